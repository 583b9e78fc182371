using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Vae;

/// <summary>How image-to-image turns the VAE encoder's distribution into latents (diffusers' retrieve_latents).</summary>
public enum PosteriorSampling
{
    /// <summary>mean + std * noise (diffusers' default sample_mode="sample"), noise from the image's seed, stream 1.</summary>
    Sample,
    /// <summary>The mean (sample_mode="argmax").</summary>
    Mode,
}

/// <summary>
/// diffusers' DiagonalGaussianDistribution over latent_parameters [B, 2C, h, w]: mean and logvar halves on
/// the channel axis, logvar clamped to [-30, 20], std = exp(0.5 * logvar).
/// </summary>
public static class VaePosterior
{
    /// <summary>Latents of row <paramref name="row"/> of the parameters [C*h*w] by the chosen mode.</summary>
    public static float[] Latents(Tensor parameters, int row, PosteriorSampling mode, ReadOnlySpan<float> noise)
    {
        var p = parameters.AsDType(DType.Float32);
        if (p.Shape.Rank != 4 || p.Shape[1] % 2 != 0)
            throw new InvalidDataException($"VAE encoder output {p.Shape} is not [B, 2C, h, w] (mean and logvar)");
        int half = checked((int)(p.Shape[1] / 2 * p.Shape[2] * p.Shape[3]));
        var all = p.AsSpan<float>().Slice(row * 2 * half, 2 * half);
        var mean = all[..half];
        var result = mean.ToArray();
        if (mode == PosteriorSampling.Mode) return result;
        if (noise.Length != half) throw new ArgumentException($"noise has {noise.Length} values, the latents {half}", nameof(noise));
        var logvar = all[half..];
        for (int i = 0; i < half; i++)
        {
            float lv = Math.Clamp(logvar[i], -30f, 20f);
            float std = MathF.Exp(0.5f * lv);
            float scaled = std * noise[i];
            result[i] = mean[i] + scaled;
        }
        return result;
    }
}
