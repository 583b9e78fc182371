using Sd3Mesh.Tensors;

namespace Sd3Mesh.Tensors.Tests;

public class TensorTests
{
    [Fact]
    public void FromArray_shares_the_array()
    {
        var values = new float[] { 1, 2, 3, 4, 5, 6 };
        var t = Tensor.FromArray(values, 2, 3);
        values[4] = 42;
        Assert.Equal(42f, t.AsSpan<float>()[4]);
        Assert.Equal(new TensorShape(2, 3), t.Shape);
        Assert.Equal(24, t.ByteCount);
    }

    [Fact]
    public void Wrong_element_type_is_refused_with_both_names()
    {
        var t = Tensor.Zeros(DType.Float16, new TensorShape(4));
        var e = Assert.Throws<InvalidOperationException>(() => t.AsSpan<float>());
        Assert.Equal("tensor holds float16 elements, not float32", e.Message);
    }

    [Fact]
    public void Data_length_must_match_shape()
    {
        var e = Assert.Throws<ArgumentException>(() => new Tensor(DType.Float32, new TensorShape(2, 2), new byte[12]));
        Assert.StartsWith("a float32 tensor of shape [2, 2] needs 16 bytes, got 12", e.Message);
    }

    [Fact]
    public void A_tensor_over_2_GiB_is_refused_with_its_size_and_the_limit()
    {
        // Its bytes are one .NET array (Array.MaxLength) or Memory<byte> (int length): no silent wrap, no bare overflow.
        var e = Assert.Throws<ArgumentException>(() => Tensor.Zeros(DType.Float32, new TensorShape(1L << 29, 2)));
        Assert.StartsWith("a float32 tensor of shape [536870912, 2] (1073741824 elements of 4 bytes) is larger than the " +
                          "2147483591 bytes one tensor can hold (its bytes are one .NET array): split it, e.g. along axis 0", e.Message);
        e = Assert.Throws<ArgumentException>(() => new Tensor(DType.Float64, new TensorShape(1L << 61), new byte[8]));
        Assert.StartsWith("a float64 tensor of shape [2305843009213693952] (2305843009213693952 elements of 8 bytes) is larger than the " +
                          "2147483647 bytes one tensor can hold", e.Message);
    }

    [Fact]
    public void Concat_along_middle_axis_interleaves_blocks()
    {
        var a = Tensor.FromArray(new long[] { 1, 2, 3, 4 }, 2, 2);      // [[1,2],[3,4]]
        var b = Tensor.FromArray(new long[] { 5, 6 }, 2, 1);            // [[5],[6]]
        var c = Tensor.Concat([a, b], axis: 1);
        Assert.Equal(new TensorShape(2, 3), c.Shape);
        Assert.Equal(new long[] { 1, 2, 5, 3, 4, 6 }, c.ToArray<long>());
    }

    [Fact]
    public void Concat_rejects_mismatched_dims()
    {
        var a = Tensor.Zeros(DType.Float32, new TensorShape(2, 2));
        var b = Tensor.Zeros(DType.Float32, new TensorShape(3, 1));
        var e = Assert.Throws<ArgumentException>(() => Tensor.Concat([a, b], 1));
        Assert.StartsWith("cannot concatenate shapes [2, 2] and [3, 1] along axis 1", e.Message);
    }

    [Fact]
    public void Slice0_shares_bytes_and_checks_bounds()
    {
        var t = Tensor.FromArray(new int[] { 0, 1, 2, 3, 4, 5 }, 3, 2);
        var s = t.Slice0(1, 2);
        Assert.Equal(new[] { 2, 3, 4, 5 }, s.ToArray<int>());
        s.AsSpan<int>()[0] = 9;
        Assert.Equal(9, t.AsSpan<int>()[2]);
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Slice0(2, 2));
    }

    [Fact]
    public void Bfloat16_rounds_to_nearest_even()
    {
        // bfloat16 keeps 7 mantissa bits. 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: the tie goes to
        // the even mantissa (1). 1 + 3*2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: it goes to 1 + 2^-6.
        var t = Tensor.FromArray(new float[] { 1f + 1f / 256, 1f + 3f / 256, -2.5f, 65504f }, 4);
        Assert.Equal(new[] { 1f, 1f + 1f / 64, -2.5f, 65536f }, t.ToDType(DType.BFloat16).ToFloatArray());
    }

    [Fact]
    public void Half_rounds_to_nearest_even_and_underflows_to_zero()
    {
        // float16 keeps 10 mantissa bits: the same ties one binade finer; 1e-8 is below half the smallest subnormal.
        var t = Tensor.FromArray(new float[] { 1f + 1f / 2048, 1f + 3f / 2048, 65504f, 1e-8f }, 4);
        Assert.Equal(new[] { 1f, 1f + 1f / 512, 65504f, 0f }, t.ToDType(DType.Float16).ToFloatArray());
    }

    [Fact]
    public void Bfloat16_keeps_nan_and_infinity()
    {
        Assert.True(float.IsNaN((float)(BFloat16)float.NaN));
        Assert.Equal(float.PositiveInfinity, (float)(BFloat16)float.PositiveInfinity);
        Assert.Equal(float.NegativeInfinity, (float)(BFloat16)float.NegativeInfinity);
    }

    [Fact]
    public void AsDType_returns_the_tensor_itself_when_the_dtype_matches_else_a_converted_copy()
    {
        var t = Tensor.FromArray(new[] { 1.5f, -2f }, 2);
        Assert.Same(t, t.AsDType(DType.Float32));
        var half = t.AsDType(DType.Float16);
        Assert.Equal(DType.Float16, half.DType);
        Assert.Equal(new[] { 1.5f, -2f }, half.ToFloatArray());
        Assert.NotSame(t, t.ToDType(DType.Float32)); // ToDType always copies
    }

    [Fact]
    public void Float_to_int_truncates_like_a_c_cast()
    {
        var t = Tensor.FromArray(new float[] { 1.9f, -1.9f, 0.5f }, 3);
        Assert.Equal(new long[] { 1, -1, 0 }, t.ToDType(DType.Int64).ToArray<long>());
    }

    [Fact]
    public void Int32_int64_and_float64_convert_among_themselves_exactly()
    {
        // 2^24 + 1 is the first integer float32 cannot hold: a float32 detour would give 16777216.
        const long first = (1L << 24) + 1;
        var longs = Tensor.FromArray(new[] { first, -first, 49407L }, 3);
        Assert.Equal(new[] { (int)first, (int)-first, 49407 }, longs.ToDType(DType.Int32).ToArray<int>());
        Assert.Equal(new[] { first, -first, 49407L }, longs.ToDType(DType.Int32).ToDType(DType.Int64).ToArray<long>());
        Assert.Equal(new[] { 16777217.0, -16777217.0, 49407.0 }, longs.ToDType(DType.Float64).ToArray<double>());
        var doubles = Tensor.FromArray(new[] { (1L << 40) + 1.75, -2.5 }, 2);
        Assert.Equal(new[] { (1L << 40) + 1, -2L }, doubles.ToDType(DType.Int64).ToArray<long>());
    }

    [Fact]
    public void Pinned_array_memory_points_at_the_elements()
    {
        var values = new double[] { 3.5, 7.25 };
        var t = Tensor.FromArray(values, 2);
        unsafe
        {
            using var pin = t.Data.Pin();
            Assert.Equal(7.25, ((double*)pin.Pointer)[1]);
        }
    }
}

public class TensorShapeTests
{
    [Fact]
    public void Scalar_shape_has_one_element_whether_default_or_empty()
    {
        Assert.Equal(1, TensorShape.Scalar.ElementCount);
        Assert.Equal(1, new TensorShape(Array.Empty<long>()).ElementCount);
        Assert.Equal(TensorShape.Scalar, new TensorShape(Array.Empty<long>()));
        Assert.Equal(7.5f, Tensor.Scalar(7.5f).AsSpan<float>()[0]);
    }

    [Fact]
    public void Zero_sized_dimension_gives_zero_elements_and_negative_is_refused()
    {
        Assert.Equal(0, new TensorShape(3, 0, 2).ElementCount);
        Assert.Throws<ArgumentException>(() => new TensorShape(2, -1));
        Assert.Equal("[2, 16, 8, 8]", new TensorShape(2, 16, 8, 8).ToString());
    }

    [Fact]
    public void A_shape_whose_element_count_overflows_is_refused_as_bad_input()
    {
        var e = Assert.Throws<ArgumentException>(() => new TensorShape(1L << 32, 1L << 32));
        Assert.StartsWith("shape [4294967296, 4294967296] has more elements than a tensor can count (2^63 - 1)", e.Message);
        Assert.Equal(0, new TensorShape(1L << 62, 1L << 62, 0).ElementCount); // a zero anywhere: no elements, no overflow
        Assert.Equal(long.MaxValue, new TensorShape(long.MaxValue, 1).ElementCount);
    }
}
