using Sd3Mesh.Runtime.Transport;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Tests.Transport;

public class TensorFramesTests
{
    private static Tensor Reassemble(Tensor tensor, int chunkBytes)
    {
        var assembler = new TensorAssembler(TensorFrameHeader.Of("t", tensor));
        foreach (var (offset, data) in TensorFrames.Split(tensor, chunkBytes)) assembler.Append(offset, data.Span);
        return assembler.ToTensor();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]      // does not divide the byte count
    [InlineData(64)]
    [InlineData(1 << 20)] // one chunk
    public void Round_trip_keeps_dtype_shape_and_every_byte(int chunkBytes)
    {
        var values = Enumerable.Range(0, 2 * 3 * 5).Select(i => (Half)(i * 0.25f - 3)).ToArray();
        var tensor = Tensor.FromArray(values, 2, 3, 5);
        var back = Reassemble(tensor, chunkBytes);
        Assert.Equal((DType.Float16, tensor.Shape), (back.DType, back.Shape));
        Assert.Equal(values, back.ToArray<Half>());
    }

    [Fact]
    public void Chunks_cover_the_bytes_in_order_without_copying()
    {
        var tensor = Tensor.FromArray(new float[10], 10);
        var chunks = TensorFrames.Split(tensor, 16).ToList();
        Assert.Equal([0L, 16L, 32L], chunks.Select(c => c.Offset));
        Assert.Equal([16, 16, 8], chunks.Select(c => c.Data.Length));
        tensor.AsSpan<float>()[9] = 1f; // chunks view the tensor's own bytes
        Assert.Equal(BitConverter.GetBytes(1f), chunks[2].Data.Slice(4, 4).ToArray());
    }

    [Fact]
    public void Scalars_and_empty_tensors()
    {
        var scalar = Tensor.Scalar(42L);
        var back = Reassemble(scalar, 3);
        Assert.Equal((0, 42L), (back.Shape.Rank, back.ToArray<long>()[0]));
        var empty = Tensor.Zeros(DType.Float32, new TensorShape(0, 4));
        Assert.Empty(TensorFrames.Split(empty, 16));
        Assert.Equal(new TensorShape(0, 4), Reassemble(empty, 8).Shape);
    }

    [Fact]
    public void Header_whose_byte_count_disagrees_with_dtype_and_shape()
    {
        var error = Assert.Throws<TensorFrameException>(() =>
            new TensorAssembler(new TensorFrameHeader("latents", DType.Float16, new TensorShape(1, 16, 8, 8), 4096)));
        Assert.Equal("tensor 'latents': the header says 4096 bytes, but a float16 tensor of shape [1, 16, 8, 8] has 2048", error.Message);
    }

    [Fact]
    public void Dtype_or_shape_other_than_expected()
    {
        var header = new TensorFrameHeader("t", DType.Float32, new TensorShape(2, 2), 16);
        Assert.Equal("tensor 't': expected float16, the sender announced float32",
            Assert.Throws<TensorFrameException>(() => new TensorAssembler(header, expectedDType: DType.Float16)).Message);
        Assert.Equal("tensor 't': expected shape [4], the sender announced [2, 2]",
            Assert.Throws<TensorFrameException>(() => new TensorAssembler(header, expectedShape: new TensorShape(4))).Message);
    }

    [Fact]
    public void Unknown_dtype_code_and_negative_dimension_from_the_wire()
    {
        Assert.Equal("tensor 'x': unknown dtype code 99 (ONNX TensorProto.DataType)",
            Assert.Throws<TensorFrameException>(() => TensorFrameHeader.FromWire("x", 99, [2], 8)).Message);
        Assert.Equal("tensor 'x': shape [2, -1] has a negative dimension",
            Assert.Throws<TensorFrameException>(() => TensorFrameHeader.FromWire("x", 1, [2, -1], 8)).Message);
        Assert.Equal(DType.BFloat16, TensorFrameHeader.FromWire("x", 16, [3], 6).DType);
    }

    [Fact]
    public void Shapes_whose_size_overflows_are_the_tensors_error()
    {
        // Element count beyond 64 bits, and an element count that fits but whose byte count does not.
        Assert.Equal("tensor 'x': shape [1099511627776, 1099511627776] has more bytes than fit in 64 bits",
            Assert.Throws<TensorFrameException>(() => TensorFrameHeader.FromWire("x", 1, [1L << 40, 1L << 40], 0)).Message);
        Assert.Equal("tensor 'y': shape [4611686018427387904] has more bytes than fit in 64 bits",
            Assert.Throws<TensorFrameException>(() => TensorFrameHeader.FromWire("y", 1, [1L << 62], 0)).Message);
    }

    [Fact]
    public void Gaps_overlaps_overflow_and_incomplete_tensors()
    {
        var header = new TensorFrameHeader("t", DType.UInt8, new TensorShape(10), 10);
        var gap = new TensorAssembler(header);
        gap.Append(0, new byte[4]);
        Assert.Equal("tensor 't': a chunk at offset 6 leaves a gap (next expected offset 4)",
            Assert.Throws<TensorFrameException>(() => gap.Append(6, new byte[4])).Message);
        Assert.Equal("tensor 't': a chunk at offset 2 overlaps bytes already received (next expected offset 4)",
            Assert.Throws<TensorFrameException>(() => gap.Append(2, new byte[4])).Message);
        Assert.Equal("tensor 't': a chunk of 8 bytes at offset 4 runs past its 10 bytes",
            Assert.Throws<TensorFrameException>(() => gap.Append(4, new byte[8])).Message);
        Assert.Equal("tensor 't' is incomplete: received 4 of 10 bytes",
            Assert.Throws<TensorFrameException>(() => gap.ToTensor()).Message);
    }
}
