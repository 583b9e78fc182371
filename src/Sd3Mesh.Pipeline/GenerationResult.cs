using Sd3Mesh.Pipeline.Imaging;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline;

/// <summary>One generated image (null for output_type latent) with its seed and PNG metadata.</summary>
public sealed record GeneratedImage(int Index, ulong Seed, RgbImage? Image, GenerationMetadata Metadata)
{
    /// <summary>The image as PNG bytes with its metadata chunks.</summary>
    public byte[] ToPng() => PngEncoder.Encode(Image ?? throw new InvalidOperationException("this job returned latents, not images"),
        Metadata.ToTextChunks());
}

/// <summary>
/// A finished job: the images (or none for output_type latent), the final latents [count, C, h, w]
/// (always, in the transformer's normalized space), timings per stage and submodule, and warnings
/// (truncated prompts).
/// </summary>
public sealed record GenerationResult(
    IReadOnlyList<GeneratedImage> Images,
    Tensor Latents,
    StageTimings Timings,
    TimeSpan Total,
    IReadOnlyList<string> Warnings);
