using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Transport;

/// <summary>What a receiver learns about a tensor before its bytes: name, dtype, shape, byte count.</summary>
public readonly record struct TensorFrameHeader(string Name, DType DType, TensorShape Shape, long TotalBytes)
{
    public static TensorFrameHeader Of(string name, Tensor tensor) => new(name, tensor.DType, tensor.Shape, tensor.ByteCount);

    /// <summary>A header from wire values (dtype as its ONNX code); throws TensorFrameException for impossible ones.</summary>
    public static TensorFrameHeader FromWire(string name, int dtype, IReadOnlyList<long> shape, ulong totalBytes)
    {
        if (totalBytes > long.MaxValue)
            throw new TensorFrameException($"tensor '{name}': total_bytes {totalBytes} is out of range");
        var (type, parsed, _) = Parse(name, dtype, shape);
        return new TensorFrameHeader(name, type, parsed, (long)totalBytes);
    }

    /// <summary>The header a tensor of this dtype code and shape must arrive with (e.g. what a TensorRef promises).</summary>
    public static TensorFrameHeader Expected(string name, int dtype, IReadOnlyList<long> shape)
    {
        var (type, parsed, bytes) = Parse(name, dtype, shape);
        return new TensorFrameHeader(name, type, parsed, bytes);
    }

    private static (DType DType, TensorShape Shape, long Bytes) Parse(string name, int dtype, IReadOnlyList<long> shape)
    {
        if (!Enum.IsDefined((DType)dtype))
            throw new TensorFrameException($"tensor '{name}': unknown dtype code {dtype} (ONNX TensorProto.DataType)");
        if (shape.Any(d => d < 0))
            throw new TensorFrameException($"tensor '{name}': shape {TensorShape.Format(shape.ToArray())} has a negative dimension");
        try
        {
            // Element and byte counts checked here, so that a hostile shape is an error that names this tensor.
            var parsed = new TensorShape(shape.ToArray());
            return ((DType)dtype, parsed, checked(parsed.ElementCount * ((DType)dtype).SizeOf()));
        }
        catch (Exception e) when (e is OverflowException or ArgumentException) // TensorShape refuses an element count past 2^63 - 1
        {
            throw new TensorFrameException($"tensor '{name}': shape {TensorShape.Format(shape.ToArray())} has more bytes than fit in 64 bits");
        }
    }
}

/// <summary>
/// Splits tensors into chunks for streaming (transport.proto's TensorChunk) without copying; a
/// <see cref="TensorAssembler"/> puts them back together on the other side.
/// </summary>
public static class TensorFrames
{
    /// <summary>(offset, bytes) chunks of at most <paramref name="chunkBytes"/> covering the tensor in order; none for an empty tensor.</summary>
    public static IEnumerable<(long Offset, ReadOnlyMemory<byte> Data)> Split(Tensor tensor, int chunkBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkBytes, 1);
        ReadOnlyMemory<byte> data = tensor.Data;
        for (int offset = 0; offset < data.Length; offset += chunkBytes)
            yield return (offset, data.Slice(offset, Math.Min(chunkBytes, data.Length - offset)));
    }
}

/// <summary>
/// Rebuilds one tensor from its header and chunks, checking that the header is self-consistent
/// (dtype x shape = total bytes), matches what the receiver expects (if it says), and that chunks
/// arrive in order, without gaps, overlaps or overflow. Every violation is a TensorFrameException
/// naming the tensor and the numbers.
/// </summary>
public sealed class TensorAssembler
{
    private readonly byte[] _buffer;
    private long _received;

    public TensorAssembler(TensorFrameHeader header, DType? expectedDType = null, TensorShape? expectedShape = null)
    {
        Header = header;
        var name = header.Name;
        if (expectedDType is { } dtype && dtype != header.DType)
            throw new TensorFrameException($"tensor '{name}': expected {dtype.Name()}, the sender announced {header.DType.Name()}");
        if (expectedShape is { } shape && shape != header.Shape)
            throw new TensorFrameException($"tensor '{name}': expected shape {shape}, the sender announced {header.Shape}");
        long expectedBytes = checked(header.Shape.ElementCount * header.DType.SizeOf());
        if (header.TotalBytes != expectedBytes)
            throw new TensorFrameException(
                $"tensor '{name}': the header says {header.TotalBytes} bytes, but a {header.DType.Name()} tensor of shape {header.Shape} has {expectedBytes}");
        if (expectedBytes > Array.MaxLength)
            throw new TensorFrameException($"tensor '{name}': {expectedBytes} bytes do not fit in one buffer");
        // Not zeroed: every byte is written by a chunk before ToTensor lets the buffer out.
        _buffer = GC.AllocateUninitializedArray<byte>((int)expectedBytes);
    }

    public TensorFrameHeader Header { get; }
    public long ReceivedBytes => _received;
    public bool IsComplete => _received == _buffer.Length;

    public void Append(long offset, ReadOnlySpan<byte> data)
    {
        var name = Header.Name;
        if (offset != _received)
            throw new TensorFrameException(offset < _received
                ? $"tensor '{name}': a chunk at offset {offset} overlaps bytes already received (next expected offset {_received})"
                : $"tensor '{name}': a chunk at offset {offset} leaves a gap (next expected offset {_received})");
        if (offset + data.Length > _buffer.Length)
            throw new TensorFrameException(
                $"tensor '{name}': a chunk of {data.Length} bytes at offset {offset} runs past its {_buffer.Length} bytes");
        data.CopyTo(_buffer.AsSpan((int)offset));
        _received += data.Length;
    }

    public Tensor ToTensor()
    {
        if (!IsComplete)
            throw new TensorFrameException($"tensor '{Header.Name}' is incomplete: received {_received} of {_buffer.Length} bytes");
        return new Tensor(Header.DType, Header.Shape, _buffer);
    }
}

/// <summary>A tensor frame stream that does not add up.</summary>
public sealed class TensorFrameException(string message) : Exception(message);
