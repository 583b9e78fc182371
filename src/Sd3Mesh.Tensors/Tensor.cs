using System.Runtime.InteropServices;

namespace Sd3Mesh.Tensors;

/// <summary>
/// A dense, row-major tensor: an element type, a shape and the bytes that hold the elements.
/// This is the unit of data that moves between pipeline stages, ONNX Runtime and (later) grains.
/// The bytes may be shared with other tensors (reshape, slice along axis 0, wrapping an array):
/// methods that return new data say so.
/// </summary>
public sealed class Tensor
{
    public Tensor(DType dtype, TensorShape shape, Memory<byte> data)
    {
        int expected = CheckedByteCount(dtype, shape, int.MaxValue);
        if (data.Length != expected)
            throw new ArgumentException(
                $"a {dtype.Name()} tensor of shape {shape} needs {expected} bytes, got {data.Length}", nameof(data));
        DType = dtype;
        Shape = shape;
        Data = data;
    }

    public DType DType { get; }
    public TensorShape Shape { get; }
    public Memory<byte> Data { get; }
    public long ElementCount => Shape.ElementCount;
    public long ByteCount => Data.Length;

    /// <summary>A new zero-filled tensor.</summary>
    public static Tensor Zeros(DType dtype, TensorShape shape) =>
        new(dtype, shape, new byte[CheckedByteCount(dtype, shape, Array.MaxLength)]);

    /// <summary>
    /// The bytes a tensor of <paramref name="dtype"/> and <paramref name="shape"/> needs, refused with a clear
    /// message above <paramref name="limit"/>: a tensor's bytes are one Memory&lt;byte&gt; (int length), and a
    /// new tensor's one byte array (Array.MaxLength), so one tensor stops just under 2 GiB.
    /// </summary>
    private static int CheckedByteCount(DType dtype, TensorShape shape, long limit)
    {
        int size = dtype.SizeOf();
        if (shape.ElementCount > limit / size)
            throw new ArgumentException(
                $"a {dtype.Name()} tensor of shape {shape} ({shape.ElementCount} elements of {size} bytes) is larger than the " +
                $"{limit} bytes one tensor can hold (its bytes are one .NET array): split it, e.g. along axis 0", nameof(shape));
        return (int)(shape.ElementCount * size);
    }

    /// <summary>Wraps <paramref name="values"/> without copying; the tensor sees later writes to the array.</summary>
    public static Tensor FromArray<T>(T[] values, TensorShape shape) where T : unmanaged
    {
        if (values.LongLength != shape.ElementCount)
            throw new ArgumentException(
                $"shape {shape} holds {shape.ElementCount} elements, the array has {values.LongLength}", nameof(values));
        CheckedByteCount(DTypes.Of<T>(), shape, int.MaxValue); // before the byte view of the array, whose length is an int
        return new Tensor(DTypes.Of<T>(), shape, new ArrayByteMemory<T>(values, 0, values.Length).Memory);
    }

    public static Tensor FromArray<T>(T[] values, params long[] shape) where T : unmanaged =>
        FromArray(values, new TensorShape(shape));

    public static Tensor Scalar<T>(T value) where T : unmanaged => FromArray([value], TensorShape.Scalar);

    /// <summary>The elements as <typeparamref name="T"/>; throws if T does not match the dtype.</summary>
    public Span<T> AsSpan<T>() where T : unmanaged
    {
        CheckElementType<T>();
        return MemoryMarshal.Cast<byte, T>(Data.Span);
    }

    public T[] ToArray<T>() where T : unmanaged => AsSpan<T>().ToArray();

    /// <summary>The elements converted to float32 (a copy), whatever the floating-point dtype.</summary>
    public float[] ToFloatArray() => DType == DType.Float32 ? ToArray<float>() : ToDType(DType.Float32).ToArray<float>();

    private void CheckElementType<T>() where T : unmanaged
    {
        var asked = DTypes.Of<T>();
        if (asked != DType)
            throw new InvalidOperationException($"tensor holds {DType.Name()} elements, not {asked.Name()}");
    }

    /// <summary>Same bytes, another shape with the same element count.</summary>
    public Tensor Reshape(TensorShape shape)
    {
        if (shape.ElementCount != ElementCount)
            throw new ArgumentException($"cannot reshape {Shape} ({ElementCount} elements) to {shape}", nameof(shape));
        return new Tensor(DType, shape, Data);
    }

    public Tensor Reshape(params long[] shape) => Reshape(new TensorShape(shape));

    /// <summary>Rows [start, start+count) along axis 0, sharing this tensor's bytes.</summary>
    public Tensor Slice0(long start, long count)
    {
        if (Shape.Rank == 0) throw new InvalidOperationException("cannot slice a scalar");
        if (start < 0 || count < 0 || start + count > Shape[0])
            throw new ArgumentOutOfRangeException(nameof(start), $"rows [{start}, {start + count}) are outside axis 0 of {Shape}");
        long rowBytes = Shape[0] == 0 ? 0 : ByteCount / Shape[0];
        return new Tensor(DType, Shape.With(0, count), Data.Slice(checked((int)(start * rowBytes)), checked((int)(count * rowBytes))));
    }

    /// <summary>A deep copy.</summary>
    public Tensor Clone() => new(DType, Shape, Data.ToArray());

    /// <summary>
    /// Concatenates tensors of one dtype along <paramref name="axis"/>; all other dimensions must match.
    /// Returns new data.
    /// </summary>
    public static Tensor Concat(IReadOnlyList<Tensor> parts, int axis)
    {
        if (parts.Count == 0) throw new ArgumentException("nothing to concatenate", nameof(parts));
        var first = parts[0];
        int rank = first.Shape.Rank;
        if (axis < 0) axis += rank;
        if (axis < 0 || axis >= rank) throw new ArgumentOutOfRangeException(nameof(axis), $"axis {axis} is outside rank {rank}");

        long axisTotal = 0;
        foreach (var p in parts)
        {
            if (p.DType != first.DType)
                throw new ArgumentException($"cannot concatenate {p.DType.Name()} with {first.DType.Name()}", nameof(parts));
            if (p.Shape.Rank != rank)
                throw new ArgumentException($"cannot concatenate shapes {first.Shape} and {p.Shape}", nameof(parts));
            for (int i = 0; i < rank; i++)
                if (i != axis && p.Shape[i] != first.Shape[i])
                    throw new ArgumentException($"cannot concatenate shapes {first.Shape} and {p.Shape} along axis {axis}", nameof(parts));
            axisTotal += p.Shape[axis];
        }

        var shape = first.Shape.With(axis, axisTotal);
        var result = Zeros(first.DType, shape);
        long outer = 1;
        for (int i = 0; i < axis; i++) outer *= first.Shape[i];
        long inner = first.DType.SizeOf();
        for (int i = axis + 1; i < rank; i++) inner *= first.Shape[i];

        var dst = result.Data.Span;
        long offset = 0;
        for (long o = 0; o < outer; o++)
        {
            foreach (var p in parts)
            {
                int block = checked((int)(p.Shape[axis] * inner));
                p.Data.Span.Slice(checked((int)(o * block)), block).CopyTo(dst.Slice(checked((int)offset)));
                offset += block;
            }
        }
        return result;
    }

    /// <summary>This tensor when it already holds <paramref name="dtype"/> (no copy), else <see cref="ToDType"/>'s converted copy.</summary>
    public Tensor AsDType(DType dtype) => dtype == DType ? this : ToDType(dtype);

    /// <summary>
    /// Converts to another dtype (new data). Float conversions round to nearest even; float to integer
    /// truncates toward zero, as a C cast does. Between int32, int64 and float64 values go through float64,
    /// so integers are exact (up to 2^53); other pairs go through float32, which holds every float16,
    /// bfloat16, int8 and uint8 value.
    /// </summary>
    public Tensor ToDType(DType target)
    {
        if (target == DType) return Clone();
        var result = Zeros(target, Shape);
        if (DType == DType.Float32) { FromFloat(AsSpan<float>(), result); return result; }
        if (target == DType.Float32) { ToFloat(this, result.AsSpan<float>()); return result; }
        if (IsWide(DType) && IsWide(target))
        {
            var wide = new double[ElementCount];
            ToDouble(this, wide);
            FromDouble(wide, result);
            return result;
        }
        var tmp = new float[ElementCount];
        ToFloat(this, tmp);
        FromFloat(tmp, result);
        return result;
    }

    /// <summary>Dtypes with values that float32 cannot hold exactly.</summary>
    private static bool IsWide(DType dtype) => dtype is DType.Int32 or DType.Int64 or DType.Float64;

    private static void ToDouble(Tensor src, Span<double> dst)
    {
        switch (src.DType)
        {
            case DType.Float64: src.AsSpan<double>().CopyTo(dst); break;
            case DType.Int64: { var s = src.AsSpan<long>(); for (int i = 0; i < s.Length; i++) dst[i] = s[i]; break; }
            case DType.Int32: { var s = src.AsSpan<int>(); for (int i = 0; i < s.Length; i++) dst[i] = s[i]; break; }
            default: throw new NotSupportedException($"cannot convert {src.DType.Name()} through float64");
        }
    }

    private static void FromDouble(ReadOnlySpan<double> src, Tensor dst)
    {
        switch (dst.DType)
        {
            case DType.Float64: src.CopyTo(dst.AsSpan<double>()); break;
            case DType.Int64: { var d = dst.AsSpan<long>(); for (int i = 0; i < src.Length; i++) d[i] = (long)src[i]; break; }
            case DType.Int32: { var d = dst.AsSpan<int>(); for (int i = 0; i < src.Length; i++) d[i] = (int)src[i]; break; }
            default: throw new NotSupportedException($"cannot convert float64 to {dst.DType.Name()}");
        }
    }

    private static void ToFloat(Tensor src, Span<float> dst)
    {
        switch (src.DType)
        {
            case DType.Float16: System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(src.AsSpan<Half>(), dst); break;
            case DType.BFloat16: { var s = src.AsSpan<BFloat16>(); for (int i = 0; i < s.Length; i++) dst[i] = (float)s[i]; break; }
            case DType.Float64: { var s = src.AsSpan<double>(); for (int i = 0; i < s.Length; i++) dst[i] = (float)s[i]; break; }
            case DType.Int64: { var s = src.AsSpan<long>(); for (int i = 0; i < s.Length; i++) dst[i] = s[i]; break; }
            case DType.Int32: { var s = src.AsSpan<int>(); for (int i = 0; i < s.Length; i++) dst[i] = s[i]; break; }
            case DType.Int8: { var s = src.AsSpan<sbyte>(); for (int i = 0; i < s.Length; i++) dst[i] = s[i]; break; }
            case DType.UInt8: { var s = src.AsSpan<byte>(); for (int i = 0; i < s.Length; i++) dst[i] = s[i]; break; }
            case DType.Bool: { var s = src.AsSpan<bool>(); for (int i = 0; i < s.Length; i++) dst[i] = s[i] ? 1f : 0f; break; }
            default: throw new NotSupportedException($"cannot convert {src.DType.Name()}");
        }
    }

    private static void FromFloat(ReadOnlySpan<float> src, Tensor dst)
    {
        switch (dst.DType)
        {
            case DType.Float32: src.CopyTo(dst.AsSpan<float>()); break;
            case DType.Float16: System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(src, dst.AsSpan<Half>()); break;
            case DType.BFloat16: { var d = dst.AsSpan<BFloat16>(); for (int i = 0; i < src.Length; i++) d[i] = (BFloat16)src[i]; break; }
            case DType.Float64: { var d = dst.AsSpan<double>(); for (int i = 0; i < src.Length; i++) d[i] = src[i]; break; }
            case DType.Int64: { var d = dst.AsSpan<long>(); for (int i = 0; i < src.Length; i++) d[i] = (long)src[i]; break; }
            case DType.Int32: { var d = dst.AsSpan<int>(); for (int i = 0; i < src.Length; i++) d[i] = (int)src[i]; break; }
            case DType.Int8: { var d = dst.AsSpan<sbyte>(); for (int i = 0; i < src.Length; i++) d[i] = (sbyte)src[i]; break; }
            case DType.UInt8: { var d = dst.AsSpan<byte>(); for (int i = 0; i < src.Length; i++) d[i] = (byte)src[i]; break; }
            case DType.Bool: { var d = dst.AsSpan<bool>(); for (int i = 0; i < src.Length; i++) d[i] = src[i] != 0; break; }
            default: throw new NotSupportedException($"cannot convert to {dst.DType.Name()}");
        }
    }

    public override string ToString() => $"Tensor({DType.Name()}, {Shape})";
}
