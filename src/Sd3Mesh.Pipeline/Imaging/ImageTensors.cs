using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Imaging;

/// <summary>
/// Conversions between VAE samples and 8-bit images, as diffusers' VaeImageProcessor does them:
/// postprocess: (x / 2 + 0.5).clamp(0, 1), then numpy_to_pil's (x * 255).round() (round half to even)
/// in float32; preprocess: pixels / 255 (float32), then 2x - 1.
/// </summary>
public static class ImageTensors
{
    /// <summary>sample [B, 3, H, W] -> one image per row.</summary>
    public static RgbImage[] ToImages(Tensor sample)
    {
        var t = sample.AsDType(DType.Float32);
        if (t.Shape.Rank != 4 || t.Shape[1] != 3) throw new InvalidDataException($"VAE output {t.Shape} is not [B, 3, H, W]");
        int batch = (int)t.Shape[0], h = (int)t.Shape[2], w = (int)t.Shape[3], plane = h * w;
        var src = t.AsSpan<float>();
        var images = new RgbImage[batch];
        for (int b = 0; b < batch; b++)
        {
            var pixels = new byte[plane * 3];
            for (int c = 0; c < 3; c++)
            {
                var channel = src.Slice((b * 3 + c) * plane, plane);
                for (int i = 0; i < plane; i++) pixels[i * 3 + c] = ToByte(channel[i]);
            }
            images[b] = new RgbImage(w, h, pixels);
        }
        return images;
    }

    /// <summary>One VAE output value to a byte: ((x / 2 + 0.5) clamped to [0, 1] * 255) rounded half to even.</summary>
    public static byte ToByte(float x)
    {
        float half = x / 2f;
        float shifted = half + 0.5f;
        float clamped = float.IsNaN(shifted) ? 0f : Math.Clamp(shifted, 0f, 1f);
        float scaled = clamped * 255f;
        return (byte)MathF.Round(scaled, MidpointRounding.ToEven);
    }

    /// <summary>image -> sample [1, 3, H, W] in [-1, 1].</summary>
    public static Tensor FromImage(RgbImage image)
    {
        int plane = image.Width * image.Height;
        var values = new float[plane * 3];
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
            {
                float unit = image.Pixels[i * 3 + c] / 255f;
                values[c * plane + i] = 2f * unit - 1f;
            }
        return Tensor.FromArray(values, 1, 3, image.Height, image.Width);
    }
}
