namespace Sd3Mesh.Server.Jobs;

public enum GenerationOutput { Image, Latent }

public enum GuidanceBatching { Batched, Split }

/// <summary>
/// A generation request after validation, with every default applied: what an executor runs. One
/// seed per image. Independent of the wire types, so that the pipeline's own request type can be
/// mapped from it in one place.
/// </summary>
public sealed record GenerationSpec
{
    public required string Prompt { get; init; }
    public required string Prompt2 { get; init; }
    public required string Prompt3 { get; init; }
    public required string NegativePrompt { get; init; }
    public required string NegativePrompt2 { get; init; }
    public required string NegativePrompt3 { get; init; }
    public required int Width { get; init; }
    public required int Height { get; init; }
    public required int Steps { get; init; }
    public required float GuidanceScale { get; init; }
    public required IReadOnlyList<ulong> Seeds { get; init; }
    public required int MaxSequenceLength { get; init; }
    public required bool NoT5 { get; init; }
    /// <summary>PNG bytes for image-to-image, or null.</summary>
    public byte[]? InitImage { get; init; }
    /// <summary>Meaningful only with <see cref="InitImage"/>.</summary>
    public required float Strength { get; init; }
    public required GenerationOutput Output { get; init; }
    /// <summary>0: no previews.</summary>
    public required int PreviewInterval { get; init; }
    public required int ClipSkip { get; init; }
    public required GuidanceBatching CfgMode { get; init; }

    public int Count => Seeds.Count;
    /// <summary>Guidance needs the unconditional pass only above 1.</summary>
    public bool UsesGuidance => GuidanceScale > 1;
    /// <summary>Denoising steps actually run (image-to-image skips the first ones).</summary>
    public int EffectiveSteps => InitImage is null ? Steps : Math.Max(1, (int)(Steps * Strength));
}
