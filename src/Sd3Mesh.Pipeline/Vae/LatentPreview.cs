using Sd3Mesh.Pipeline.Imaging;
using Sd3Mesh.Pipeline.Latents;
using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Vae;

/// <summary>
/// An approximate RGB view of latents without the VAE, for step previews: each latent pixel maps to one
/// RGB pixel by an affine map of its C channels (rgb = W z + b, in the VAE output's [-1, 1] scale). The
/// map is fitted once per model by least squares against that model's own VAE decoder (<see cref="FitAsync"/>),
/// so it holds for any latent width, tiny or SD3 Medium, without hand-tuned factors. A preview is
/// width/8 x height/8 pixels.
/// </summary>
public sealed class LatentPreview
{
    /// <summary>Latent size and count of the random latents decoded for the fit (4 x 16 x 16 = 1024 samples for 17 unknowns).</summary>
    public const int FitLatentSize = 16, FitSamples = 4;

    // [C + 1, 3]: one row per latent channel, then the bias row.
    private readonly double[,] _coefficients;

    public LatentPreview(double[,] coefficients)
    {
        if (coefficients.GetLength(0) < 2 || coefficients.GetLength(1) != 3)
            throw new ArgumentException($"coefficients must be [channels + 1, 3], got [{coefficients.GetLength(0)}, {coefficients.GetLength(1)}]", nameof(coefficients));
        _coefficients = (double[,])coefficients.Clone();
    }

    public int Channels => _coefficients.GetLength(0) - 1;

    /// <summary>How much latent channel <paramref name="channel"/> adds to RGB component <paramref name="rgb"/> (0 R, 1 G, 2 B).</summary>
    public double Weight(int channel, int rgb) => _coefficients[channel, rgb];

    public double Bias(int rgb) => _coefficients[Channels, rgb];

    /// <summary>
    /// Fits the map: decodes <paramref name="samples"/> standard-normal latents [1, C, n, n] (the transformer's
    /// normalized space, un-normalized for the decoder as the pipeline does), averages each
    /// vae_scale_factor^2 pixel block of the output into the RGB of its latent pixel, and solves the
    /// (C + 1) x (C + 1) normal equations in float64.
    /// </summary>
    public static async Task<LatentPreview> FitAsync(IVaeDecoder decoder, Sd3ModelConfig model, int samples = FitSamples,
        int latentSize = FitLatentSize, CancellationToken cancellationToken = default)
    {
        int c = model.LatentChannels, f = model.VaeScaleFactor, n = latentSize, unknowns = c + 1;
        var scaling = new VaeLatentScaling(model.ScalingFactor, model.ShiftFactor);
        var xtx = new double[unknowns, unknowns];
        var xty = new double[unknowns, 3];
        var x = new double[unknowns];
        var rgb = new double[3];
        for (int s = 0; s < samples; s++)
        {
            var z = LatentNoise.Create([(ulong)s], c, n, n, stream: 7);
            var decoded = (await decoder.DecodeAsync(scaling.ToVae(z), cancellationToken).ConfigureAwait(false)).AsDType(DType.Float32);
            var expected = new TensorShape(1, 3, n * f, n * f);
            if (decoded.Shape != expected) throw new InvalidDataException($"the VAE decoder returned {decoded.Shape} for {z.Shape}, expected {expected}");
            var latent = z.AsSpan<float>();
            var pixels = decoded.AsSpan<float>();
            int side = n * f, plane = side * side;
            for (int y = 0; y < n; y++)
            {
                for (int px = 0; px < n; px++)
                {
                    for (int k = 0; k < c; k++) x[k] = latent[(k * n + y) * n + px];
                    x[c] = 1;
                    for (int j = 0; j < 3; j++)
                    {
                        double sum = 0;
                        for (int dy = 0; dy < f; dy++)
                            for (int dx = 0; dx < f; dx++) sum += pixels[j * plane + (y * f + dy) * side + px * f + dx];
                        rgb[j] = sum / (f * f);
                    }
                    for (int a = 0; a < unknowns; a++)
                    {
                        for (int b = 0; b < unknowns; b++) xtx[a, b] += x[a] * x[b];
                        for (int j = 0; j < 3; j++) xty[a, j] += x[a] * rgb[j];
                    }
                }
            }
        }
        return new LatentPreview(Solve(xtx, xty));
    }

    /// <summary>Image <paramref name="index"/> of latents [B, C, h, w] as an h x w RGB image.</summary>
    public RgbImage Render(Tensor latents, int index = 0)
    {
        var t = latents.AsDType(DType.Float32);
        if (t.Shape.Rank != 4 || t.Shape[1] != Channels || index < 0 || index >= t.Shape[0])
            throw new ArgumentException($"latents {t.Shape} are not [B, {Channels}, h, w] with an image {index}", nameof(latents));
        int h = (int)t.Shape[2], w = (int)t.Shape[3], plane = h * w;
        var values = t.AsSpan<float>().Slice(index * Channels * plane, Channels * plane);
        var pixels = new byte[plane * 3];
        for (int i = 0; i < plane; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                double v = Bias(j);
                for (int k = 0; k < Channels; k++) v += _coefficients[k, j] * values[k * plane + i];
                pixels[i * 3 + j] = ImageTensors.ToByte((float)v);
            }
        }
        return new RgbImage(w, h, pixels);
    }

    /// <summary><see cref="Render"/> as PNG bytes.</summary>
    public byte[] RenderPng(Tensor latents, int index = 0) => PngEncoder.Encode(Render(latents, index));

    /// <summary>Solves A X = B (A symmetric positive definite, from the normal equations) by Gaussian elimination with partial pivoting.</summary>
    private static double[,] Solve(double[,] a, double[,] b)
    {
        int n = a.GetLength(0), m = b.GetLength(1);
        a = (double[,])a.Clone();
        b = (double[,])b.Clone();
        for (int col = 0; col < n; col++)
        {
            int pivot = col;
            for (int r = col + 1; r < n; r++) if (Math.Abs(a[r, col]) > Math.Abs(a[pivot, col])) pivot = r;
            if (Math.Abs(a[pivot, col]) < 1e-12)
                throw new InvalidOperationException($"the latent preview fit is singular at column {col} (too few distinct latent samples)");
            if (pivot != col)
            {
                for (int k = 0; k < n; k++) (a[col, k], a[pivot, k]) = (a[pivot, k], a[col, k]);
                for (int k = 0; k < m; k++) (b[col, k], b[pivot, k]) = (b[pivot, k], b[col, k]);
            }
            for (int r = col + 1; r < n; r++)
            {
                double factor = a[r, col] / a[col, col];
                if (factor == 0) continue;
                for (int k = col; k < n; k++) a[r, k] -= factor * a[col, k];
                for (int k = 0; k < m; k++) b[r, k] -= factor * b[col, k];
            }
        }
        var x = new double[n, m];
        for (int r = n - 1; r >= 0; r--)
        {
            for (int k = 0; k < m; k++)
            {
                double v = b[r, k];
                for (int j = r + 1; j < n; j++) v -= a[r, j] * x[j, k];
                x[r, k] = v / a[r, r];
            }
        }
        return x;
    }
}
