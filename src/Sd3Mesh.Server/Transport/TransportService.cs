using Grpc.Core;
using Microsoft.Extensions.Logging;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Grpc;
using TransportApi = Sd3Mesh.Protos.V1.Transport;

namespace Sd3Mesh.Server.Transport;

/// <summary>
/// sd3mesh.v1.Transport: grain calls whose tensors stream as chunked frames. Each completed call runs
/// its registered handler and answers with a header and the result tensors' chunks (or an error in the
/// header: a failed call does not end the stream). A frame stream that does not add up ends the stream
/// with INVALID_ARGUMENT.
/// </summary>
public sealed class TransportService(TensorCallRegistry registry, ILogger<TransportService> logger) : TransportApi.TransportBase
{
    /// <summary>Bytes per chunk of the tensors this service sends back.</summary>
    public int ChunkBytes { get; init; } = TensorFrames.DefaultChunkBytes;

    public override async Task Exchange(IAsyncStreamReader<TransportFrame> requestStream, IServerStreamWriter<TransportFrame> responseStream,
        ServerCallContext context)
    {
        var reader = new TransportFrameReader();
        await foreach (var frame in requestStream.ReadAllAsync(context.CancellationToken))
        {
            if (reader.Accept(frame) is not { } call) continue;
            var header = call.Header;
            IEnumerable<TransportFrame> answer;
            var handler = registry.Find(header.Grain, header.Method);
            if (handler is null)
            {
                answer = [TransportFrames.Error(header.CallId, header.Grain, header.Method,
                    new Status(StatusCode.NotFound, $"this silo serves no grain method {header.Grain}.{header.Method}"))];
            }
            else
            {
                try
                {
                    var outputs = await handler(call.Tensors(), context.CancellationToken);
                    answer = TransportFrames.Encode(header.CallId, header.Grain, header.Method, outputs, ChunkBytes);
                }
                catch (Exception e) when (e is not OperationCanceledException || !context.CancellationToken.IsCancellationRequested)
                {
                    var status = StatusMapping.FromException(e, out bool unexpected);
                    if (unexpected) logger.LogError(e, "grain call {Grain}.{Method} failed", header.Grain, header.Method);
                    answer = [TransportFrames.Error(header.CallId, header.Grain, header.Method, status)];
                }
            }
            foreach (var response in answer) await responseStream.WriteAsync(response, context.CancellationToken);
        }
        if (reader.Open.Count > 0)
            throw new TensorFrameException("the stream ended inside a call: " + string.Join("; ", reader.Open.Select(c => c.DescribeMissing())));
    }
}
