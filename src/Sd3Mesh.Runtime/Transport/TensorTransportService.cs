using Google.Protobuf;
using Grpc.Core;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Runtime.Tensors;

namespace Sd3Mesh.Runtime.Transport;

/// <summary>
/// sd3mesh.v1.TensorTransport on a silo: streams tensors of this silo's <see cref="TensorStore"/> to the silos whose
/// grains hold references to them. Chunks are views of the tensor (no copy before serialization); the tensor leaves
/// the store only when its last chunk is written, so a stream cut by a deadline or a cancellation can be fetched again.
/// </summary>
public sealed class TensorTransportService(TensorStore store, TensorTransportOptions options) : TensorTransport.TensorTransportBase
{
    public override async Task Fetch(FetchRequest request, IServerStreamWriter<TensorFrame> responseStream, ServerCallContext context)
    {
        var id = request.TensorId;
        var tensor = store.Find(id) ?? throw new RpcException(new Status(StatusCode.NotFound,
            $"silo {store.Silo} holds no tensor '{id}' (never published there, delivered already, or expired after {store.Lifetime})"));
        if (request.MaxBytes > 0 && (ulong)tensor.ByteCount > request.MaxBytes)
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"tensor '{id}' of silo {store.Silo} is {tensor.ByteCount} bytes, more than the receiver's limit of {request.MaxBytes} bytes"));

        var header = new TensorHeader { Dtype = (int)tensor.DType, TotalBytes = (ulong)tensor.ByteCount };
        header.Shape.AddRange(tensor.Shape.ToArray());
        var cancel = context.CancellationToken; // fires at the deadline and when the reader cancels
        await responseStream.WriteAsync(new TensorFrame { Header = header }, cancel).ConfigureAwait(false);
        foreach (var (offset, data) in TensorFrames.Split(tensor, options.ChunkBytes))
            await responseStream.WriteAsync(new TensorFrame
            {
                Chunk = new TensorChunk { Offset = (ulong)offset, Data = UnsafeByteOperations.UnsafeWrap(data) },
            }, cancel).ConfigureAwait(false);
        store.Remove(id);
    }
}
