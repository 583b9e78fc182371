using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline;

/// <summary>The few tensor manipulations the pipeline needs beyond Sd3Mesh.Tensors (float32 only).</summary>
public static class TensorOps
{
    /// <summary>
    /// Each row along axis 0 repeated <paramref name="times"/> times in place ([a, b] -> [a, a, b, b]), as
    /// diffusers' repeat(1, n, 1).view(B*n, ...) does for num_images_per_prompt.
    /// </summary>
    public static Tensor RepeatRows(Tensor t, int times)
    {
        if (times == 1) return t;
        if (times < 1) throw new ArgumentOutOfRangeException(nameof(times));
        long rows = t.Shape[0];
        var result = Tensor.Zeros(t.DType, t.Shape.With(0, rows * times));
        int rowBytes = checked((int)(t.ByteCount / Math.Max(rows, 1)));
        var src = t.Data.Span;
        var dst = result.Data.Span;
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < times; k++)
                src.Slice(r * rowBytes, rowBytes).CopyTo(dst.Slice((r * times + k) * rowBytes));
        return result;
    }

    /// <summary>
    /// The last dimension padded with zeros (or cut) to <paramref name="width"/>: torch.nn.functional.pad
    /// with (0, width - current), which crops when the amount is negative.
    /// </summary>
    public static Tensor PadLastDim(Tensor t, long width)
    {
        var src = t.AsDType(DType.Float32);
        long current = src.Shape[-1];
        if (current == width) return src;
        long outer = src.ElementCount / Math.Max(current, 1);
        var result = Tensor.Zeros(DType.Float32, src.Shape.With(-1, width));
        var s = src.AsSpan<float>();
        var d = result.AsSpan<float>();
        int copy = (int)Math.Min(current, width);
        for (long o = 0; o < outer; o++)
            s.Slice((int)(o * current), copy).CopyTo(d.Slice((int)(o * width)));
        return result;
    }

    /// <summary>Element-wise check that all values are finite (NaN/Inf from a model are reported early).</summary>
    public static bool AllFinite(ReadOnlySpan<float> values)
    {
        foreach (var v in values) if (!float.IsFinite(v)) return false;
        return true;
    }
}
