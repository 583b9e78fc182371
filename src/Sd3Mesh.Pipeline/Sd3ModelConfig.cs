using Sd3Mesh.Models;
using Sd3Mesh.Models.Repository;

namespace Sd3Mesh.Pipeline;

/// <summary>
/// The dimensions and constants the pipeline takes from a model folder's config.json files (diffusers'
/// layout or optimum's ONNX layout, see <see cref="From"/>), so tiny models with small widths work as the
/// full-size one does. Defaults are SD3 Medium's.
/// </summary>
public sealed record Sd3ModelConfig
{
    /// <summary>transformer.config.joint_attention_dim: the width of the prompt embeddings (4096).</summary>
    public int JointAttentionDim { get; init; } = 4096;
    /// <summary>transformer.config.in_channels: latent channels (16).</summary>
    public int LatentChannels { get; init; } = 16;
    /// <summary>transformer.config.patch_size (2).</summary>
    public int PatchSize { get; init; } = 2;
    /// <summary>transformer.config.sample_size in latents (128: 1024 px).</summary>
    public int SampleSize { get; init; } = 128;
    /// <summary>transformer.config.pos_embed_max_size when known (192 for SD3 Medium): the largest patch grid.</summary>
    public int? PosEmbedMaxSize { get; init; }
    /// <summary>2^(len(vae block_out_channels) - 1) (8).</summary>
    public int VaeScaleFactor { get; init; } = 8;
    /// <summary>vae.config.scaling_factor (1.5305).</summary>
    public double ScalingFactor { get; init; } = 1.5305;
    /// <summary>vae.config.shift_factor (0.0609).</summary>
    public double ShiftFactor { get; init; } = 0.0609;
    /// <summary>vae.config.sample_size in pixels: the VAE tile size (1024).</summary>
    public int VaeSampleSize { get; init; } = 1024;
    /// <summary>num_hidden_layers of text_encoder and text_encoder_2 when known (for clip_skip limits).</summary>
    public int? ClipLayers { get; init; }
    public int? Clip2Layers { get; init; }

    /// <summary>diffusers' tile_latent_min_size, the latent tile of tiled VAE decoding: sample_size / vae_scale_factor (128), at least 2.</summary>
    public int VaeTileLatentSize => Math.Max(2, VaeSampleSize / VaeScaleFactor);

    /// <summary>Pixel sizes must be multiples of this (vae_scale_factor * patch_size: 16).</summary>
    public int SizeMultiple => VaeScaleFactor * PatchSize;

    /// <summary>The model's native image size, the default width and height (sample_size * vae_scale_factor: 1024).</summary>
    public int DefaultImageSize => SampleSize * VaeScaleFactor;

    /// <summary>
    /// The largest width or height the transformer's position table covers (pos_embed_max_size * patch_size *
    /// vae_scale_factor: 3072 for SD3 Medium, as diffusers' PatchEmbed refuses larger), or null when unknown.
    /// </summary>
    public int? MaxImageSize => PosEmbedMaxSize * SizeMultiple;

    /// <summary>The largest clip_skip both CLIP encoders support (hidden_states has layers + 1 entries).</summary>
    public int? MaxClipSkip => ClipLayers is null && Clip2Layers is null ? null
        : Math.Min(ClipLayers ?? int.MaxValue, Clip2Layers ?? int.MaxValue) - 1;

    /// <summary>SD3 Medium: the defaults, with CLIP-L's 12 and OpenCLIP bigG's 32 layers (clip_skip 0..11) and pos_embed_max_size 192.</summary>
    public static Sd3ModelConfig Sd3Medium { get; } = new() { ClipLayers = 12, Clip2Layers = 32, PosEmbedMaxSize = 192 };

    /// <summary>
    /// The dimensions of an opened repository, from the configs <see cref="ModelRepository"/> already reads and
    /// validates: transformer/, the VAE's (vae_decoder/, vae_encoder/ or vae/), text_encoder/ and text_encoder_2/.
    /// </summary>
    public static Sd3ModelConfig From(ModelRepository repository)
    {
        var transformer = repository.TransformerConfig;
        var vae = repository.Vae;
        return new Sd3ModelConfig
        {
            JointAttentionDim = transformer.JointAttentionDim,
            LatentChannels = transformer.InChannels,
            PatchSize = transformer.PatchSize,
            SampleSize = transformer.SampleSize,
            PosEmbedMaxSize = transformer.PosEmbedMaxSize,
            VaeScaleFactor = vae.DownscaleFactor,
            ScalingFactor = vae.ScalingFactor,
            ShiftFactor = vae.ShiftFactor ?? 0.0,
            VaeSampleSize = vae.SampleSize,
            ClipLayers = repository.ClipConfig(Submodule.TextEncoder).NumHiddenLayers,
            Clip2Layers = repository.ClipConfig(Submodule.TextEncoder2).NumHiddenLayers,
        };
    }
}
