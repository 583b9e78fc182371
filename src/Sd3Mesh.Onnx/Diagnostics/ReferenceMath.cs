namespace Sd3Mesh.Onnx.Diagnostics;

/// <summary>
/// Straightforward float64 implementations of the operators the self-checks compare ONNX Runtime
/// against (row-major layouts, ONNX semantics). Written for clarity, not speed; inputs are small.
/// </summary>
public static class ReferenceMath
{
    /// <summary>[m, k] x [k, n] -> [m, n].</summary>
    public static double[] MatMul(ReadOnlySpan<double> a, ReadOnlySpan<double> b, int m, int k, int n)
    {
        var c = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++) sum += a[i * k + p] * b[p * n + j];
                c[i * n + j] = sum;
            }
        return c;
    }

    /// <summary>Adds a length-n bias to every row of an [m, n] matrix, in place.</summary>
    public static double[] AddRows(double[] x, ReadOnlySpan<double> bias)
    {
        for (int i = 0; i < x.Length; i++) x[i] += bias[i % bias.Length];
        return x;
    }

    /// <summary>Softmax over the last axis of [rows, cols].</summary>
    public static double[] Softmax(ReadOnlySpan<double> x, int rows, int cols)
    {
        var y = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * cols, cols);
            double max = double.NegativeInfinity;
            foreach (var v in row) max = Math.Max(max, v);
            double sum = 0;
            for (int c = 0; c < cols; c++) sum += y[r * cols + c] = Math.Exp(row[c] - max);
            for (int c = 0; c < cols; c++) y[r * cols + c] /= sum;
        }
        return y;
    }

    /// <summary>LayerNormalization over the last axis of [rows, cols] (biased variance, as ONNX defines it).</summary>
    public static double[] LayerNorm(ReadOnlySpan<double> x, ReadOnlySpan<double> scale, ReadOnlySpan<double> bias, int rows, int cols, double epsilon)
    {
        var y = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * cols, cols);
            double mean = 0;
            foreach (var v in row) mean += v;
            mean /= cols;
            double variance = 0;
            foreach (var v in row) variance += (v - mean) * (v - mean);
            variance /= cols;
            double inv = 1 / Math.Sqrt(variance + epsilon);
            for (int c = 0; c < cols; c++) y[r * cols + c] = (row[c] - mean) * inv * scale[c] + bias[c];
        }
        return y;
    }

    /// <summary>
    /// 2-D convolution, NCHW input [n, cIn, h, w], weight [cOut, cIn, kh, kw], bias [cOut], symmetric
    /// zero padding <paramref name="pad"/>, stride <paramref name="stride"/> (group 1, no dilation).
    /// </summary>
    public static double[] Conv2d(ReadOnlySpan<double> x, ReadOnlySpan<double> weight, ReadOnlySpan<double> bias,
        int n, int cIn, int h, int w, int cOut, int kh, int kw, int stride, int pad, out int outH, out int outW)
    {
        outH = (h + 2 * pad - kh) / stride + 1;
        outW = (w + 2 * pad - kw) / stride + 1;
        var y = new double[n * cOut * outH * outW];
        for (int b = 0; b < n; b++)
            for (int o = 0; o < cOut; o++)
                for (int oy = 0; oy < outH; oy++)
                    for (int ox = 0; ox < outW; ox++)
                    {
                        double sum = bias[o];
                        for (int c = 0; c < cIn; c++)
                            for (int ky = 0; ky < kh; ky++)
                                for (int kx = 0; kx < kw; kx++)
                                {
                                    int iy = oy * stride + ky - pad, ix = ox * stride + kx - pad;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                    sum += x[((b * cIn + c) * h + iy) * w + ix] * weight[((o * cIn + c) * kh + ky) * kw + kx];
                                }
                        y[((b * cOut + o) * outH + oy) * outW + ox] = sum;
                    }
        return y;
    }

    /// <summary>||actual - expected||_2 / ||expected||_2.</summary>
    public static double RelativeL2Error(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected)
    {
        if (actual.Length != expected.Length)
            throw new ArgumentException($"{actual.Length} values compared with {expected.Length}");
        double diff = 0, norm = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = actual[i] - expected[i];
            diff += d * d;
            norm += expected[i] * expected[i];
        }
        return norm == 0 ? Math.Sqrt(diff) : Math.Sqrt(diff / norm);
    }

    /// <summary>max |actual - expected| (NaN if any value is NaN).</summary>
    public static double MaxAbsError(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected)
    {
        double max = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = Math.Abs(actual[i] - expected[i]);
            if (double.IsNaN(d)) return double.NaN;
            max = Math.Max(max, d);
        }
        return max;
    }
}
