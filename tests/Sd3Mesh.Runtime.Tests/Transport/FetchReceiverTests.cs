using System.Buffers;
using Google.Protobuf;
using Grpc.Core;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Runtime.Transport;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Tests.Transport;

/// <summary>The receiver's own parse of transport.proto's frames, fed the bytes protobuf writes (and some it would not).</summary>
public class FetchReceiverTests
{
    private sealed class Payload(ReadOnlySequence<byte> bytes) : DeserializationContext
    {
        public override int PayloadLength => (int)bytes.Length;
        public override byte[] PayloadAsNewBuffer() => bytes.ToArray();
        public override ReadOnlySequence<byte> PayloadAsReadOnlySequence() => bytes;
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, Segment? previous)
        {
            Memory = memory;
            if (previous is null) return;
            RunningIndex = previous.RunningIndex + previous.Memory.Length;
            previous.Next = this;
        }
    }

    /// <summary>The bytes cut into pieces of <paramref name="piece"/> bytes, as a socket may deliver them.</summary>
    private static ReadOnlySequence<byte> InPieces(byte[] bytes, int piece)
    {
        Segment first = new(bytes.AsMemory(0, Math.Min(piece, bytes.Length)), null), last = first;
        for (int at = piece; at < bytes.Length; at += piece) last = new Segment(bytes.AsMemory(at, Math.Min(piece, bytes.Length - at)), last);
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private static readonly TensorFrameHeader Expected = new("s1/t", DType.Float16, new TensorShape(2, 5), 20);

    private static void Feed(FetchReceiver receiver, byte[] frame, int piece = int.MaxValue) =>
        receiver.Method.ResponseMarshaller.ContextualDeserializer(new Payload(InPieces(frame, piece)));

    private static byte[] Header() => new TensorFrame { Header = new TensorHeader { Dtype = 10, Shape = { 2, 5 }, TotalBytes = 20 } }.ToByteArray();

    private static byte[] Chunk(ulong offset, byte[] data) =>
        new TensorFrame { Chunk = new TensorChunk { Offset = offset, Data = ByteString.CopyFrom(data) } }.ToByteArray();

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(3)] // chunk bytes, lengths and varints split across segments
    [InlineData(1)]
    public void Chunks_land_in_the_tensor_whatever_pieces_the_frames_arrive_in(int piece)
    {
        var bytes = Enumerable.Range(0, 20).Select(i => (byte)(i * 7 + 1)).ToArray();
        var receiver = new FetchReceiver(Expected);
        Feed(receiver, Header(), piece);
        Feed(receiver, Chunk(0, bytes[..12]), piece); // offset 0 is not on the wire at all
        Feed(receiver, Chunk(12, bytes[12..]), piece);
        Assert.Null(receiver.Error);
        var tensor = receiver.ToTensor();
        Assert.Equal((DType.Float16, new TensorShape(2, 5)), (tensor.DType, tensor.Shape));
        Assert.Equal(bytes, tensor.Data.ToArray());
    }

    [Fact]
    public void Unknown_fields_of_every_wire_type_are_skipped()
    {
        // TensorChunk {offset: 0, data: 4 bytes} with field 7 (varint), 8 (fixed64), 9 (bytes), 10 (fixed32) around it.
        byte[] chunk = [0x38, 0x96, 0x01, 0x41, 1, 2, 3, 4, 5, 6, 7, 8, 0x12, 4, 9, 9, 9, 9, 0x4A, 2, 0xFF, 0xFF, 0x55, 1, 2, 3, 4];
        byte[] frame = [0x12, (byte)chunk.Length, .. chunk, 0x58, 0x01];
        var receiver = new FetchReceiver(new TensorFrameHeader("s1/t", DType.UInt8, new TensorShape(4), 4));
        Feed(receiver, new TensorFrame { Header = new TensorHeader { Dtype = 2, Shape = { 4 }, TotalBytes = 4 } }.ToByteArray());
        Feed(receiver, frame);
        Assert.Null(receiver.Error);
        Assert.Equal([9, 9, 9, 9], receiver.ToTensor().Data.ToArray());
    }

    [Fact]
    public void Frames_that_do_not_add_up_are_kept_as_the_error_naming_the_tensor()
    {
        var early = new FetchReceiver(Expected);
        Feed(early, Chunk(0, new byte[4]));
        Assert.Equal("tensor 's1/t': the stream began with a chunk, not the header", early.Error?.Message);

        var twice = new FetchReceiver(Expected);
        Feed(twice, Header());
        Feed(twice, Chunk(0, new byte[4]));
        Feed(twice, Header());
        Assert.Equal("tensor 's1/t': a second header after 4 bytes", twice.Error?.Message);

        var other = new FetchReceiver(Expected);
        Feed(other, new TensorFrame { Header = new TensorHeader { Dtype = 1, Shape = { 2, 5 }, TotalBytes = 40 } }.ToByteArray());
        Assert.Equal("tensor 's1/t': expected float16, the sender announced float32", other.Error?.Message);

        var cut = new FetchReceiver(Expected);
        Feed(cut, Header());
        Feed(cut, Chunk(0, new byte[8])[..^3]);
        Assert.Equal("tensor 's1/t': a malformed frame (a field runs past the end of its message)", cut.Error?.Message);

        var gap = new FetchReceiver(Expected);
        Feed(gap, Header());
        Feed(gap, Chunk(4, new byte[4]));
        Assert.Equal("tensor 's1/t': a chunk at offset 4 leaves a gap (next expected offset 0)", gap.Error?.Message);

        var nothing = new FetchReceiver(Expected);
        Assert.Equal("tensor 's1/t': the stream ended before its header", Assert.Throws<TensorFrameException>(nothing.ToTensor).Message);
        var half = new FetchReceiver(Expected);
        Feed(half, Header());
        Feed(half, Chunk(0, new byte[12]));
        Assert.Equal("tensor 's1/t' is incomplete: received 12 of 20 bytes", Assert.Throws<TensorFrameException>(half.ToTensor).Message);
    }
}
