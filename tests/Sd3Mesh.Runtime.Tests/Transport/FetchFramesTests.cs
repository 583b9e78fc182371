using System.Buffers;
using Google.Protobuf;
using Grpc.Core;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Runtime.Transport;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Tests.Transport;

/// <summary>The client's own parse of transport.proto's frames and their assembly, fed the bytes protobuf writes (and some it would not).</summary>
public class FetchFramesTests
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

    private sealed class Frames(IEnumerable<FetchFrame> frames) : IAsyncStreamReader<FetchFrame>
    {
        private readonly IEnumerator<FetchFrame> _frames = frames.GetEnumerator();
        public FetchFrame Current => _frames.Current;
        public Task<bool> MoveNext(CancellationToken cancellationToken) => Task.FromResult(_frames.MoveNext());
    }

    /// <summary>The bytes cut into pieces of <paramref name="piece"/> bytes, as a socket may deliver them.</summary>
    private static ReadOnlySequence<byte> InPieces(byte[] bytes, int piece)
    {
        Segment first = new(bytes.AsMemory(0, Math.Min(piece, bytes.Length)), null), last = first;
        for (int at = piece; at < bytes.Length; at += piece) last = new Segment(bytes.AsMemory(at, Math.Min(piece, bytes.Length - at)), last);
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>What the Fetch method's marshaller makes of a message's bytes.</summary>
    private static FetchFrame Parse(byte[] message, int piece = int.MaxValue) =>
        FetchFrames.Method.ResponseMarshaller.ContextualDeserializer(new Payload(InPieces(message, piece)));

    private static readonly TensorFrameHeader Expected = new("s1/t", DType.Float16, new TensorShape(2, 5), 20);

    private static byte[] Header(int dtype = 10, ulong bytes = 20) =>
        new TensorFrame { Header = new TensorHeader { Dtype = dtype, Shape = { 2, 5 }, TotalBytes = bytes } }.ToByteArray();

    private static byte[] Chunk(ulong offset, byte[] data) =>
        new TensorFrame { Chunk = new TensorChunk { Offset = offset, Data = ByteString.CopyFrom(data) } }.ToByteArray();

    private static Task<Tensor> Assemble(params byte[][] messages) =>
        FetchFrames.AssembleAsync(new Frames(messages.Select(m => Parse(m))), Expected, CancellationToken.None);

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(3)] // chunk bytes, lengths and varints split across segments
    [InlineData(1)]
    public async Task Chunks_land_in_the_tensor_whatever_pieces_the_frames_arrive_in(int piece)
    {
        var bytes = Enumerable.Range(0, 20).Select(i => (byte)(i * 7 + 1)).ToArray();
        var frames = new[] { Header(), Chunk(0, bytes[..12]), Chunk(12, bytes[12..]) }.Select(m => Parse(m, piece)).ToArray();
        Assert.Equal((0L, 12), (frames[1].Offset, frames[1].Length)); // offset 0 is not on the wire at all
        Assert.Equal((12L, 8), (frames[2].Offset, frames[2].Length));
        var tensor = await FetchFrames.AssembleAsync(new Frames(frames), Expected, CancellationToken.None);
        Assert.Equal((DType.Float16, new TensorShape(2, 5)), (tensor.DType, tensor.Shape));
        Assert.Equal(bytes, tensor.Data.ToArray());
        Assert.True(frames.All(f => f.Data.IsEmpty)); // each chunk's pooled buffer went back
    }

    [Fact]
    public void Unknown_fields_of_every_wire_type_are_skipped()
    {
        // TensorChunk {offset: 150, data: 4 bytes} with fields 7 (varint), 8 (fixed64), 9 (bytes), 10 (fixed32) around it.
        byte[] chunk = [0x38, 0x96, 0x01, 0x08, 0x96, 0x01, 0x41, 1, 2, 3, 4, 5, 6, 7, 8, 0x12, 4, 9, 9, 9, 9, 0x4A, 2, 0xFF, 0xFF, 0x55, 1, 2, 3, 4];
        var frame = Parse([0x12, (byte)chunk.Length, .. chunk, 0x58, 0x01]);
        Assert.Null(frame.Malformed);
        Assert.Equal(150L, frame.Offset);
        Assert.Equal([9, 9, 9, 9], frame.Data.ToArray());
    }

    [Fact]
    public void Bytes_that_are_not_a_frame_are_malformed_not_an_exception()
    {
        Assert.Equal("a field runs past the end of its message", Parse(Chunk(0, new byte[8])[..^3]).Malformed);
        Assert.Equal("a varint runs past the end of its message", Parse([0x12, 0x80]).Malformed);
        Assert.Equal("wire type 3", Parse([0x0B]).Malformed);
        Assert.Equal("an empty frame", Parse([]).Malformed);
    }

    [Theory]
    [InlineData("chunk first", "tensor 's1/t': the stream began with a chunk, not the header")]
    [InlineData("two headers", "tensor 's1/t': a second header after 4 bytes")]
    [InlineData("other dtype", "tensor 's1/t': expected float16, the sender announced float32")]
    [InlineData("gap", "tensor 's1/t': a chunk at offset 4 leaves a gap (next expected offset 0)")]
    [InlineData("too long", "tensor 's1/t': a chunk of 24 bytes at offset 0 runs past its 20 bytes")]
    [InlineData("short", "tensor 's1/t' is incomplete: received 12 of 20 bytes")]
    [InlineData("nothing", "tensor 's1/t': the stream ended before its header")]
    [InlineData("malformed", "tensor 's1/t': a malformed frame (a field runs past the end of its message)")]
    public async Task Streams_that_do_not_add_up_fail_naming_the_tensor(string fault, string message)
    {
        byte[][] messages = fault switch
        {
            "chunk first" => [Chunk(0, new byte[4])],
            "two headers" => [Header(), Chunk(0, new byte[4]), Header()],
            "other dtype" => [Header(dtype: 1, bytes: 40)],
            "gap" => [Header(), Chunk(4, new byte[4])],
            "too long" => [Header(), Chunk(0, new byte[24])],
            "short" => [Header(), Chunk(0, new byte[12])],
            "nothing" => [],
            _ => [Header(), Chunk(0, new byte[8])[..^3]],
        };
        Assert.Equal(message, (await Assert.ThrowsAsync<TensorFrameException>(() => Assemble(messages))).Message);
    }
}
