using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Latents;

/// <summary>
/// Standard-normal noise of shape [count, channels, height, width] where image i comes from
/// Sd3Mesh.Tensors.SeededRandom (Philox4x32-10) with seed i and the given stream, so each image is
/// reproducible on its own whatever the batch.
/// </summary>
public static class LatentNoise
{
    public static Tensor Create(IReadOnlyList<ulong> seeds, long channels, long height, long width, ulong stream = SeedPlan.NoiseStream)
    {
        long perImage = channels * height * width;
        var values = new float[checked(seeds.Count * perImage)];
        for (int i = 0; i < seeds.Count; i++)
            SeededRandom.FillNormal(values.AsSpan((int)(i * perImage), (int)perImage), seeds[i], stream);
        return Tensor.FromArray(values, seeds.Count, channels, height, width);
    }
}
