using System.Buffers;
using Grpc.Core;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Transport;

/// <summary>
/// sd3mesh.v1.TensorTransport/Fetch with a response marshaller of our own. The generated one parses each chunk into a
/// new ByteString: a fresh 1 MiB array per chunk, on the large object heap, garbage once copied into the tensor. This
/// one parses transport.proto's TensorFrame itself (field 1: TensorHeader; field 2: TensorChunk {1: offset, 2: data};
/// unknown fields skipped) and copies a chunk's bytes into a pooled buffer; <see cref="AssembleAsync"/> puts them
/// into the tensor. (Same CPU per 64 MiB pull, within the noise, as appending straight from grpc-dotnet's receive
/// buffer, which would need a Method per call: grpc-dotnet caches per Method instance and channel.)
/// </summary>
public static class FetchFrames
{
    public static readonly Method<FetchRequest, FetchFrame> Method = new(MethodType.ServerStreaming, TensorTransport.Descriptor.FullName, "Fetch",
        Marshallers.Create<FetchRequest>(r => Google.Protobuf.MessageExtensions.ToByteArray(r), FetchRequest.Parser.ParseFrom),
        Marshallers.Create<FetchFrame>((_, _) => throw new NotSupportedException("frames are only received"), context => Parse(context.PayloadAsReadOnlySequence())));

    /// <summary>
    /// The header, then every chunk into a <see cref="TensorAssembler"/> that checks them against the reference. Reads
    /// to the end of the stream, which also gets the call's status (OK: the owner has dropped the tensor).
    /// </summary>
    public static async Task<Tensor> AssembleAsync(IAsyncStreamReader<FetchFrame> frames, TensorFrameHeader expected, CancellationToken cancellationToken)
    {
        var name = expected.Name;
        TensorAssembler? assembler = null;
        while (await frames.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            var frame = frames.Current;
            try
            {
                if (frame.Malformed is { } malformed)
                    throw new TensorFrameException($"tensor '{name}': a malformed frame ({malformed})");
                if (frame.Header is { } header)
                    assembler = assembler is null
                        ? new TensorAssembler(TensorFrameHeader.FromWire(name, header.Dtype, header.Shape, header.TotalBytes), expected.DType, expected.Shape)
                        : throw new TensorFrameException($"tensor '{name}': a second header after {assembler.ReceivedBytes} bytes");
                else
                    (assembler ?? throw new TensorFrameException($"tensor '{name}': the stream began with a chunk, not the header"))
                        .Append(frame.Offset, frame.Data);
            }
            finally
            {
                frame.Release();
            }
        }
        // Fails naming the bytes received if the stream ended early.
        return (assembler ?? throw new TensorFrameException($"tensor '{name}': the stream ended before its header")).ToTensor();
    }

    public static FetchFrame Parse(ReadOnlySequence<byte> payload)
    {
        try
        {
            FetchFrame? frame = null;
            var fields = new SequenceReader<byte>(payload);
            while (!fields.End)
            {
                var (field, body, _) = NextField(ref fields);
                if (field == 1 && body is { } header) Replace(ref frame, new FetchFrame(null) { Header = TensorHeader.Parser.ParseFrom(header) });
                else if (field == 2 && body is { } chunk) Replace(ref frame, Chunk(chunk));
            }
            return frame ?? new FetchFrame(null) { Malformed = "an empty frame" };
        }
        catch (Exception e) when (e is InvalidDataException or Google.Protobuf.InvalidProtocolBufferException)
        {
            return new FetchFrame(null) { Malformed = e.Message };
        }
    }

    // A repeated oneof field: the last one wins (protobuf's rule).
    private static void Replace(ref FetchFrame? frame, FetchFrame next)
    {
        frame?.Release();
        frame = next;
    }

    private static FetchFrame Chunk(ReadOnlySequence<byte> chunk)
    {
        ulong offset = 0;
        var data = ReadOnlySequence<byte>.Empty;
        var fields = new SequenceReader<byte>(chunk);
        while (!fields.End)
        {
            var (field, body, varint) = NextField(ref fields);
            if (field == 1 && body is null) offset = varint;
            else if (field == 2 && body is { } bytes) data = bytes;
        }
        if (offset > long.MaxValue) throw new InvalidDataException($"chunk offset {offset} is out of range");
        var rented = ArrayPool<byte>.Shared.Rent((int)data.Length);
        data.CopyTo(rented);
        return new FetchFrame(rented) { Offset = (long)offset, Length = (int)data.Length };
    }

    /// <summary>The next field: its number, its bytes if length-delimited, its value if a varint.</summary>
    private static (int Field, ReadOnlySequence<byte>? Body, ulong Varint) NextField(ref SequenceReader<byte> reader)
    {
        ulong tag = Varint(ref reader);
        int field = (int)(tag >> 3);
        switch (tag & 7)
        {
            case 0: return (field, null, Varint(ref reader));
            case 1: Skip(ref reader, 8); return (field, null, 0);
            case 5: Skip(ref reader, 4); return (field, null, 0);
            case 2:
                ulong length = Varint(ref reader);
                if (length > (ulong)reader.Remaining) throw new InvalidDataException("a field runs past the end of its message");
                var body = reader.UnreadSequence.Slice(0, (long)length);
                reader.Advance((long)length);
                return (field, body, 0);
            default: throw new InvalidDataException($"wire type {tag & 7}");
        }
    }

    private static ulong Varint(ref SequenceReader<byte> reader)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (!reader.TryRead(out byte b)) throw new InvalidDataException("a varint runs past the end of its message");
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return value;
        }
        throw new InvalidDataException("a varint longer than 10 bytes");
    }

    private static void Skip(ref SequenceReader<byte> reader, int bytes)
    {
        if (reader.Remaining < bytes) throw new InvalidDataException("a field runs past the end of its message");
        reader.Advance(bytes);
    }
}
