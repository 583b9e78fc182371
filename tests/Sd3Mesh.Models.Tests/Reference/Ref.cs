using Sd3Mesh.Onnx.Diagnostics;

namespace Sd3Mesh.Models.Tests.Reference;

/// <summary>
/// Straightforward float64 implementations of the layers, written from the papers' and diffusers'/transformers'
/// math (not from the graph builders). Matrices are row-major double[] with explicit sizes.
/// </summary>
public static class Ref
{
    /// <summary>x [n, inF] times W stored [inF, outF], plus b.</summary>
    public static double[] Linear(double[] x, int n, int inF, int outF, double[] w, double[]? b)
    {
        var y = new double[n * outF];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < outF; o++)
            {
                double s = b?[o] ?? 0;
                for (int k = 0; k < inF; k++) s += x[i * inF + k] * w[k * outF + o];
                y[i * outF + o] = s;
            }
        return y;
    }

    public static double[] Linear(RefWeights w, string name, double[] x, int n, int inF, int outF) =>
        Linear(x, n, inF, outF, w[name + ".weight"], w.Has(name + ".bias") ? w[name + ".bias"] : null);

    /// <summary>LayerNorm over rows (ReferenceMath's), without affine when gamma/beta are null.</summary>
    public static double[] LayerNorm(double[] x, int n, int d, double eps, double[]? gamma = null, double[]? beta = null) =>
        ReferenceMath.LayerNorm(x, gamma ?? Enumerable.Repeat(1.0, d).ToArray(), beta ?? new double[d], n, d, eps);

    public static double[] RmsNorm(double[] x, int n, int d, double eps, double[] gamma)
    {
        var y = new double[x.Length];
        for (int i = 0; i < n; i++)
        {
            double ms = 0;
            for (int k = 0; k < d; k++) ms += x[i * d + k] * x[i * d + k];
            ms /= d;
            for (int k = 0; k < d; k++) y[i * d + k] = x[i * d + k] / Math.Sqrt(ms + eps) * gamma[k];
        }
        return y;
    }

    /// <summary>GroupNorm on one sample [C, HW].</summary>
    public static double[] GroupNorm(double[] x, int c, int hw, int groups, double eps, double[] gamma, double[] beta)
    {
        var y = new double[x.Length];
        int per = c / groups;
        for (int g = 0; g < groups; g++)
        {
            double mean = 0, var = 0;
            int n = per * hw;
            for (int i = 0; i < n; i++) mean += x[g * n + i];
            mean /= n;
            for (int i = 0; i < n; i++) var += Math.Pow(x[g * n + i] - mean, 2);
            var /= n;
            for (int ch = g * per; ch < (g + 1) * per; ch++)
                for (int p = 0; p < hw; p++)
                    y[ch * hw + p] = (x[ch * hw + p] - mean) / Math.Sqrt(var + eps) * gamma[ch] + beta[ch];
        }
        return y;
    }

    /// <summary>2-D convolution on one sample [C, H, W] with zero padding (top, left, bottom, right): unlike
    /// ReferenceMath.Conv2d, padding may be asymmetric (Downsample2D pads only right and bottom).</summary>
    public static double[] Conv2d(double[] x, int c, int h, int wd, double[] weight, double[] bias, int outC, int k, int stride,
        int padTop, int padLeft, int padBottom, int padRight, out int oh, out int ow)
    {
        oh = (h + padTop + padBottom - k) / stride + 1;
        ow = (wd + padLeft + padRight - k) / stride + 1;
        var y = new double[outC * oh * ow];
        for (int o = 0; o < outC; o++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    double s = bias[o];
                    for (int ci = 0; ci < c; ci++)
                        for (int a = 0; a < k; a++)
                            for (int b = 0; b < k; b++)
                            {
                                int yy = i * stride + a - padTop, xx = j * stride + b - padLeft;
                                if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
                                s += x[(ci * h + yy) * wd + xx] * weight[((o * c + ci) * k + a) * k + b];
                            }
                    y[(o * oh + i) * ow + j] = s;
                }
        return y;
    }

    /// <summary>
    /// Multi-head attention on token-major q [lq, heads*d], k, v [lk, heads*d]:
    /// softmax(q k^T * scale + bias[h, i, j]) v per head. bias may be null; -inf entries mask.
    /// </summary>
    public static double[] Attention(double[] q, double[] k, double[] v, int lq, int lk, int heads, int d, double scale,
        Func<int, int, int, double>? bias = null)
    {
        var y = new double[lq * heads * d];
        var scores = new double[lk];
        int w = heads * d;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < lq; i++)
            {
                double max = double.NegativeInfinity;
                for (int j = 0; j < lk; j++)
                {
                    double s = 0;
                    for (int e = 0; e < d; e++) s += q[i * w + h * d + e] * k[j * w + h * d + e];
                    s = s * scale + (bias?.Invoke(h, i, j) ?? 0);
                    scores[j] = s;
                    max = Math.Max(max, s);
                }
                double sum = 0;
                for (int j = 0; j < lk; j++) sum += scores[j] = Math.Exp(scores[j] - max);
                for (int e = 0; e < d; e++)
                {
                    double acc = 0;
                    for (int j = 0; j < lk; j++) acc += scores[j] / sum * v[j * w + h * d + e];
                    y[i * w + h * d + e] = acc;
                }
            }
        return y;
    }

    public static double Silu(double x) => x / (1 + Math.Exp(-x));
    public static double GeluTanh(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    public static double Gelu(double x) => 0.5 * x * (1 + Erf(x / Math.Sqrt(2)));
    public static double QuickGelu(double x) => x / (1 + Math.Exp(-1.702 * x));

    public static double[] Map(double[] x, Func<double, double> f) => Array.ConvertAll(x, v => f(v));
    public static double[] Add(double[] a, double[] b) => a.Select((v, i) => v + b[i]).ToArray();
    public static double[] Mul(double[] a, double[] b) => a.Select((v, i) => v * b[i]).ToArray();

    /// <summary>Rows [start, start + count) of a [rows, width] matrix.</summary>
    public static double[] Rows(double[] x, int width, int start, int count) => x.AsSpan(start * width, count * width).ToArray();

    /// <summary>erf to float64 precision (Abramowitz-Stegun is too coarse): series for small |x|, continued fraction beyond.</summary>
    public static double Erf(double x)
    {
        double ax = Math.Abs(x);
        double r;
        if (ax < 2.5)
        {
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 200; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
            }
            r = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))) (Lentz-free backward evaluation)
            double f = 0;
            for (int n = 60; n >= 1; n--) f = n / 2.0 / (ax + f);
            r = 1 - Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / (ax + f);
        }
        return x < 0 ? -r : r;
    }

    /// <summary>Relative L2 error ||actual - expected|| / ||expected||.</summary>
    public static double RelL2(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected) => ReferenceMath.RelativeL2Error(actual, expected);
}
