using Google.Protobuf;
using Grpc.Core;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Server.Transport;

/// <summary>A tensor with the name a grain method knows it by.</summary>
public sealed record NamedTensor(string Name, Tensor Tensor);

/// <summary>transport.proto's framing of one grain call: a CallHeader, then the chunks of each tensor in order.</summary>
public static class TransportFrames
{
    /// <summary>The frames of a call (or of its response); chunk bytes are views of the tensors, not copies.</summary>
    public static IEnumerable<TransportFrame> Encode(string callId, string grain, string method, IReadOnlyList<NamedTensor> tensors,
        int chunkBytes = TensorFrames.DefaultChunkBytes)
    {
        var header = new CallHeader { CallId = callId, Grain = grain, Method = method };
        foreach (var (name, tensor) in tensors)
        {
            var t = new TensorHeader { Name = name, Dtype = (int)tensor.DType, TotalBytes = (ulong)tensor.ByteCount };
            t.Shape.AddRange(tensor.Shape.ToArray());
            header.Tensors.Add(t);
        }
        yield return new TransportFrame { Header = header };
        for (int index = 0; index < tensors.Count; index++)
            foreach (var (offset, data) in TensorFrames.Split(tensors[index].Tensor, chunkBytes))
                yield return new TransportFrame
                {
                    Chunk = new TensorChunk { CallId = callId, TensorIndex = (uint)index, Offset = (ulong)offset, Data = UnsafeByteOperations.UnsafeWrap(data) },
                };
    }

    /// <summary>The single frame of a failed call's response.</summary>
    public static TransportFrame Error(string callId, string grain, string method, Status status) => new()
    {
        Header = new CallHeader { CallId = callId, Grain = grain, Method = method, ErrorCode = (int)status.StatusCode, ErrorMessage = status.Detail },
    };
}

/// <summary>One call being received: its header and a TensorAssembler per tensor.</summary>
public sealed class IncomingCall
{
    private readonly TensorAssembler[] _tensors;

    public IncomingCall(CallHeader header)
    {
        Header = header;
        _tensors = header.Tensors
            .Select(t => new TensorAssembler(TensorFrameHeader.FromWire(t.Name, t.Dtype, t.Shape, t.TotalBytes)))
            .ToArray();
    }

    public CallHeader Header { get; }
    public bool IsComplete => _tensors.All(t => t.IsComplete);

    public void Add(TensorChunk chunk)
    {
        if (chunk.TensorIndex >= _tensors.Length)
            throw new TensorFrameException($"call '{Header.CallId}': a chunk for tensor index {chunk.TensorIndex}, but the call has {_tensors.Length} tensors");
        _tensors[chunk.TensorIndex].Append((long)chunk.Offset, chunk.Data.Span);
    }

    public IReadOnlyList<NamedTensor> Tensors() => _tensors.Select(t => new NamedTensor(t.Header.Name, t.ToTensor())).ToList();

    /// <summary>What is still missing, for the error when a stream ends early.</summary>
    public string DescribeMissing() =>
        $"call '{Header.CallId}' ({Header.Grain}.{Header.Method}): " + string.Join(", ",
            _tensors.Where(t => !t.IsComplete).Select(t => $"tensor '{t.Header.Name}' has {t.ReceivedBytes} of {t.Header.TotalBytes} bytes"));
}

/// <summary>Demultiplexes a frame stream into calls; returns each call when its last byte arrived.</summary>
public sealed class TransportFrameReader
{
    private readonly Dictionary<string, IncomingCall> _open = new(StringComparer.Ordinal);

    public IReadOnlyCollection<IncomingCall> Open => _open.Values;

    public IncomingCall? Accept(TransportFrame frame)
    {
        switch (frame.FrameCase)
        {
            case TransportFrame.FrameOneofCase.Header:
                var header = frame.Header;
                if (header.CallId.Length == 0) throw new TensorFrameException("a call header without a call_id");
                if (_open.ContainsKey(header.CallId))
                    throw new TensorFrameException($"call '{header.CallId}' is already open on this stream");
                var call = new IncomingCall(header);
                if (call.IsComplete) return call;
                _open.Add(header.CallId, call);
                return null;
            case TransportFrame.FrameOneofCase.Chunk:
                var chunk = frame.Chunk;
                if (!_open.TryGetValue(chunk.CallId, out var open))
                    throw new TensorFrameException($"a chunk for call '{chunk.CallId}', which is not open (no header, or already complete)");
                open.Add(chunk);
                if (!open.IsComplete) return null;
                _open.Remove(chunk.CallId);
                return open;
            default:
                throw new TensorFrameException("an empty transport frame (neither header nor chunk)");
        }
    }
}
