namespace Sd3Mesh.Pipeline.Latents;

/// <summary>
/// One seed per generated image. No seed: a random base seed is drawn (and reported); one seed S: image i
/// uses S + i; otherwise exactly one seed per image. The seed of an image fixes its initial noise
/// (Philox stream 0) and, for image-to-image, its VAE posterior sample (stream 1).
/// </summary>
public static class SeedPlan
{
    public const ulong NoiseStream = 0;
    public const ulong PosteriorStream = 1;

    public static ulong[] Resolve(IReadOnlyList<ulong> seeds, int count)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count));
        if (seeds.Count == count) return seeds.ToArray();
        if (seeds.Count > 1)
            throw new ArgumentException($"{seeds.Count} seeds were given for {count} images: give one seed or exactly one per image", nameof(seeds));
        ulong first = seeds.Count == 1 ? seeds[0] : RandomSeed();
        var result = new ulong[count];
        for (int i = 0; i < count; i++) result[i] = unchecked(first + (ulong)i);
        return result;
    }

    /// <summary>A random seed below 2^53, so it survives JSON and JavaScript clients unchanged.</summary>
    public static ulong RandomSeed() => (ulong)Random.Shared.NextInt64(0, 1L << 53);
}
