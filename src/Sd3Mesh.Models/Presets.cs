using Sd3Mesh.Models.Configs;

namespace Sd3Mesh.Models;

/// <summary>The configs of a whole SD3 model: three text encoders, the transformer, the VAE, the scheduler.</summary>
public sealed record ModelSet(
    ClipTextConfig TextEncoder,
    ClipTextConfig TextEncoder2,
    T5EncoderConfig TextEncoder3,
    Sd3TransformerConfig Transformer,
    AutoencoderKlConfig Vae,
    SchedulerConfig Scheduler);

/// <summary>
/// Named model sizes for seeded-random models. <c>tiny</c>: SD3's structure at toy width and depth (a 4-step
/// 64x64 generation runs in seconds on 2 CPU cores), keeping what the pipeline relies on (16 latent channels, 8x
/// VAE factor, CLIP's 49408-token vocabulary and 77 positions, T5's 32128 tokens, context_pre_only last block).
/// <c>medium</c>: SD3 Medium's real dimensions (about 2.0B transformer, 4.8B T5-XXL parameters).
/// </summary>
public static class Presets
{
    public static readonly IReadOnlyList<string> Names = ["tiny", "medium"];

    public static ModelSet Get(string name) => name.Trim().ToLowerInvariant() switch
    {
        "tiny" => Tiny(),
        "medium" => Medium(),
        _ => throw new FormatException($"unknown preset '{name}': expected {string.Join(" or ", Names)}"),
    };

    public static ModelSet Tiny() => new(
        TextEncoder: Clip(hidden: 32, intermediate: 128, layers: 2, heads: 2, act: "quick_gelu", projection: 32),
        TextEncoder2: Clip(hidden: 32, intermediate: 128, layers: 2, heads: 2, act: "gelu", projection: 32),
        TextEncoder3: T5(dModel: 64, dKv: 16, dFf: 128, layers: 2, heads: 4),
        Transformer: new Sd3TransformerConfig
        {
            SampleSize = 32, PatchSize = 2, InChannels = 16, NumLayers = 2, AttentionHeadDim = 16, NumAttentionHeads = 2,
            JointAttentionDim = 64, CaptionProjectionDim = 32, PooledProjectionDim = 64, OutChannels = 16, PosEmbedMaxSize = 64,
        },
        Vae: Vae([16, 32, 32, 32], layersPerBlock: 1, groups: 8),
        Scheduler: new SchedulerConfig());

    public static ModelSet Medium() => new(
        TextEncoder: Clip(hidden: 768, intermediate: 3072, layers: 12, heads: 12, act: "quick_gelu", projection: 768),
        TextEncoder2: Clip(hidden: 1280, intermediate: 5120, layers: 32, heads: 20, act: "gelu", projection: 1280),
        TextEncoder3: T5(dModel: 4096, dKv: 64, dFf: 10240, layers: 24, heads: 64),
        Transformer: new Sd3TransformerConfig
        {
            SampleSize = 128, PatchSize = 2, InChannels = 16, NumLayers = 24, AttentionHeadDim = 64, NumAttentionHeads = 24,
            JointAttentionDim = 4096, CaptionProjectionDim = 1536, PooledProjectionDim = 2048, OutChannels = 16, PosEmbedMaxSize = 192,
        },
        Vae: Vae([128, 256, 512, 512], layersPerBlock: 2, groups: 32),
        Scheduler: new SchedulerConfig());

    // SD3's text encoder configs carry CLIP's legacy token ids (bos 0, eos 2, pad 1): pooling then uses argmax(input_ids).
    private static ClipTextConfig Clip(int hidden, int intermediate, int layers, int heads, string act, int projection) => new()
    {
        VocabSize = 49408, HiddenSize = hidden, IntermediateSize = intermediate, NumHiddenLayers = layers, NumAttentionHeads = heads,
        MaxPositionEmbeddings = 77, HiddenAct = act, ProjectionDim = projection, LayerNormEps = 1e-5,
        BosTokenId = 0, EosTokenId = 2, PadTokenId = 1,
    };

    private static T5EncoderConfig T5(int dModel, int dKv, int dFf, int layers, int heads) => new()
    {
        VocabSize = 32128, DModel = dModel, DKv = dKv, DFf = dFf, NumLayers = layers, NumHeads = heads,
        RelativeAttentionNumBuckets = 32, RelativeAttentionMaxDistance = 128, FeedForwardProj = "gated-gelu",
        DenseActFn = "gelu_new", IsGatedAct = true, LayerNormEpsilon = 1e-6,
    };

    private static AutoencoderKlConfig Vae(int[] channels, int layersPerBlock, int groups) => new()
    {
        InChannels = 3, OutChannels = 3, BlockOutChannels = channels, LayersPerBlock = layersPerBlock, LatentChannels = 16,
        NormNumGroups = groups, SampleSize = 1024, ScalingFactor = 1.5305, ShiftFactor = 0.0609,
        UseQuantConv = false, UsePostQuantConv = false,
        DownBlockTypes = Enumerable.Repeat("DownEncoderBlock2D", channels.Length).ToArray(),
        UpBlockTypes = Enumerable.Repeat("UpDecoderBlock2D", channels.Length).ToArray(),
    };
}
