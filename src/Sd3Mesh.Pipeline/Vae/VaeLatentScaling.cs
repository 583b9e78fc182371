using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Vae;

/// <summary>
/// SD3's latent normalization: the transformer works on (z - shift_factor) * scaling_factor; the VAE
/// decoder takes latents / scaling_factor + shift_factor (float32, operation by operation as torch).
/// </summary>
public readonly record struct VaeLatentScaling(double ScalingFactor, double ShiftFactor)
{
    /// <summary>latents / scaling_factor + shift_factor (before decoding).</summary>
    public Tensor ToVae(Tensor latents)
    {
        var src = latents.AsDType(DType.Float32).AsSpan<float>();
        var result = new float[src.Length];
        float scale = (float)ScalingFactor, shift = (float)ShiftFactor;
        for (int i = 0; i < src.Length; i++)
        {
            float divided = src[i] / scale;
            result[i] = divided + shift;
        }
        return Tensor.FromArray(result, latents.Shape);
    }

    /// <summary>(z - shift_factor) * scaling_factor (after encoding).</summary>
    public void FromVae(ReadOnlySpan<float> z, Span<float> destination)
    {
        float scale = (float)ScalingFactor, shift = (float)ShiftFactor;
        for (int i = 0; i < z.Length; i++)
        {
            float shifted = z[i] - shift;
            destination[i] = shifted * scale;
        }
    }
}
