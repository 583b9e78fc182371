using System.Buffers;
using Grpc.Core;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Transport;

/// <summary>
/// Reads one Fetch stream straight into the tensor's buffer. The generated client would parse each chunk into a new
/// ByteString (a 1 MiB array per chunk, then copied again into the tensor); this response marshaller copies a chunk's
/// bytes from grpc-dotnet's receive buffer into the <see cref="TensorAssembler"/> once. It parses transport.proto's
/// TensorFrame itself (field 1: TensorHeader; field 2: TensorChunk {1: offset, 2: data}), skipping unknown fields.
/// A frame that does not add up is kept in <see cref="Error"/> (grpc-dotnet would replace an exception thrown here
/// with a bare "failed to deserialize"); the reader throws it after the frame.
/// </summary>
public sealed class FetchReceiver
{
    private static readonly Marshaller<FetchRequest> Requests =
        Marshallers.Create<FetchRequest>(r => Google.Protobuf.MessageExtensions.ToByteArray(r), FetchRequest.Parser.ParseFrom);

    private readonly TensorFrameHeader _expected;
    private TensorAssembler? _assembler;

    public FetchReceiver(TensorFrameHeader expected)
    {
        _expected = expected;
        Method = new Method<FetchRequest, FetchReceiver>(MethodType.ServerStreaming, TensorTransport.Descriptor.FullName, "Fetch", Requests,
            Marshallers.Create<FetchReceiver>((_, _) => throw new NotSupportedException("a receiver is not sent"), Accept));
    }

    /// <summary>sd3mesh.v1.TensorTransport/Fetch, whose every response message lands in this receiver.</summary>
    public Method<FetchRequest, FetchReceiver> Method { get; }

    public Exception? Error { get; private set; }

    /// <summary>The tensor once every byte arrived; a TensorFrameException naming what is missing otherwise.</summary>
    public Tensor ToTensor() => _assembler is { } a ? a.ToTensor() : throw new TensorFrameException($"tensor '{_expected.Name}': the stream ended before its header");

    private FetchReceiver Accept(DeserializationContext context)
    {
        if (Error is not null) return this;
        try
        {
            var frame = new SequenceReader<byte>(context.PayloadAsReadOnlySequence());
            while (!frame.End)
            {
                var (field, body) = NextField(ref frame);
                if (field == 1 && body is { } header) Begin(TensorHeader.Parser.ParseFrom(header));
                else if (field == 2 && body is { } chunk) Append(chunk);
            }
        }
        catch (Exception e) when (e is TensorFrameException or Google.Protobuf.InvalidProtocolBufferException)
        {
            Error = e;
        }
        return this;
    }

    private void Begin(TensorHeader header)
    {
        if (_assembler is not null)
            throw new TensorFrameException($"tensor '{_expected.Name}': a second header after {_assembler.ReceivedBytes} bytes");
        _assembler = new TensorAssembler(TensorFrameHeader.FromWire(_expected.Name, header.Dtype, header.Shape, header.TotalBytes),
            _expected.DType, _expected.Shape);
    }

    private void Append(ReadOnlySequence<byte> chunk)
    {
        var assembler = _assembler ?? throw new TensorFrameException($"tensor '{_expected.Name}': the stream began with a chunk, not the header");
        ulong offset = 0;
        var data = ReadOnlySequence<byte>.Empty;
        var fields = new SequenceReader<byte>(chunk);
        while (!fields.End)
        {
            var (field, body) = NextField(ref fields, out ulong varint);
            if (field == 1 && body is null) offset = varint;
            else if (field == 2 && body is { } bytes) data = bytes;
        }
        if (offset > long.MaxValue) throw new TensorFrameException($"tensor '{_expected.Name}': chunk offset {offset} is out of range");
        assembler.Append((long)offset, data);
    }

    private (int Field, ReadOnlySequence<byte>? Body) NextField(ref SequenceReader<byte> reader) => NextField(ref reader, out _);

    /// <summary>The next field: its number, and its bytes if length-delimited (a varint's value in <paramref name="varint"/>).</summary>
    private (int Field, ReadOnlySequence<byte>? Body) NextField(ref SequenceReader<byte> reader, out ulong varint)
    {
        ulong tag = Varint(ref reader);
        varint = 0;
        switch (tag & 7)
        {
            case 0: varint = Varint(ref reader); return ((int)(tag >> 3), null);
            case 1: Skip(ref reader, 8); return ((int)(tag >> 3), null);
            case 5: Skip(ref reader, 4); return ((int)(tag >> 3), null);
            case 2:
                ulong length = Varint(ref reader);
                if (length > (ulong)reader.Remaining) throw Malformed("a field runs past the end of its message");
                var body = reader.UnreadSequence.Slice(0, (long)length);
                reader.Advance((long)length);
                return ((int)(tag >> 3), body);
            default: throw Malformed($"wire type {tag & 7}");
        }
    }

    private ulong Varint(ref SequenceReader<byte> reader)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (!reader.TryRead(out byte b)) throw Malformed("a varint runs past the end of its message");
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return value;
        }
        throw Malformed("a varint longer than 10 bytes");
    }

    private void Skip(ref SequenceReader<byte> reader, int bytes)
    {
        if (reader.Remaining < bytes) throw Malformed("a field runs past the end of its message");
        reader.Advance(bytes);
    }

    private TensorFrameException Malformed(string what) => new($"tensor '{_expected.Name}': a malformed frame ({what})");
}
