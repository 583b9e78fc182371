namespace Sd3Mesh.Pipeline;

/// <summary>When the VAE decodes in overlapping tiles.</summary>
public enum VaeTiling
{
    /// <summary>Tile when the latents exceed the VAE's sample size (1024 px for SD3): bounded memory for large images.</summary>
    Auto,
    /// <summary>Always decode in one call (diffusers' default without enable_tiling).</summary>
    Off,
}

public sealed record Sd3PipelineOptions
{
    public VaeTiling VaeTiling { get; init; } = VaeTiling.Auto;
    /// <summary>Overrides the tile size in latents (default: <see cref="Sd3ModelConfig.VaeTileLatentSize"/>, vae sample_size / vae_scale_factor).</summary>
    public int? TileLatentSize { get; init; }
    /// <summary>Prompt-embedding cache bounds; 0 entries disables the cache.</summary>
    public int CacheEntries { get; init; } = 64;
    public long CacheBytes { get; init; } = 256L << 20;
}
