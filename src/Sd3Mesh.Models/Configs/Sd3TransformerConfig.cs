using System.Text.Json.Serialization;

namespace Sd3Mesh.Models.Configs;

/// <summary>
/// diffusers' SD3Transformer2DModel config (transformer/config.json). Defaults are diffusers' own; SD3 Medium:
/// 24 layers, 24 heads of 64, pos_embed_max_size 192. SD3.5 adds qk_norm ("rms_norm") and dual_attention_layers.
/// </summary>
public sealed record Sd3TransformerConfig
{
    [JsonPropertyName("_class_name")] public string ClassName { get; init; } = "SD3Transformer2DModel";
    [JsonPropertyName("_diffusers_version")] public string DiffusersVersion { get; init; } = "0.31.0";
    public int SampleSize { get; init; } = 128;
    public int PatchSize { get; init; } = 2;
    public int InChannels { get; init; } = 16;
    public int NumLayers { get; init; } = 18;
    public int AttentionHeadDim { get; init; } = 64;
    public int NumAttentionHeads { get; init; } = 18;
    public int JointAttentionDim { get; init; } = 4096;
    public int CaptionProjectionDim { get; init; } = 1152;
    public int PooledProjectionDim { get; init; } = 2048;
    public int? OutChannels { get; init; } = 16;
    public int PosEmbedMaxSize { get; init; } = 96;
    public int[] DualAttentionLayers { get; init; } = [];
    public string? QkNorm { get; init; }

    [JsonIgnore] public int InnerDim => NumAttentionHeads * AttentionHeadDim;
    [JsonIgnore] public int OutputChannels => OutChannels ?? InChannels;

    public Sd3TransformerConfig Validate(string source)
    {
        ConfigJson.Require(PatchSize > 0, source, "patch_size", $"must be positive (is {PatchSize})");
        ConfigJson.Require(InChannels > 0, source, "in_channels", $"must be positive (is {InChannels})");
        ConfigJson.Require(NumLayers > 0, source, "num_layers", $"must be positive (is {NumLayers})");
        ConfigJson.Require(NumAttentionHeads > 0, source, "num_attention_heads", $"must be positive (is {NumAttentionHeads})");
        ConfigJson.Require(AttentionHeadDim > 0, source, "attention_head_dim", $"must be positive (is {AttentionHeadDim})");
        ConfigJson.Require(InnerDim % 2 == 0, source, "num_attention_heads * attention_head_dim", $"({InnerDim}) must be even for the sin-cos position embedding");
        ConfigJson.Require(CaptionProjectionDim == InnerDim, source, "caption_projection_dim",
            $"({CaptionProjectionDim}) must equal num_attention_heads * attention_head_dim ({InnerDim})");
        ConfigJson.Require(JointAttentionDim > 0, source, "joint_attention_dim", $"must be positive (is {JointAttentionDim})");
        ConfigJson.Require(PooledProjectionDim > 0, source, "pooled_projection_dim", $"must be positive (is {PooledProjectionDim})");
        ConfigJson.Require(PosEmbedMaxSize > 0, source, "pos_embed_max_size", $"must be positive (is {PosEmbedMaxSize}); configs without it are not SD3");
        ConfigJson.Require(SampleSize >= PatchSize, source, "sample_size", $"({SampleSize}) must be at least patch_size ({PatchSize})");
        ConfigJson.Require(QkNorm is null or "rms_norm", source, "qk_norm", $"'{QkNorm}' is not supported (expected null or \"rms_norm\")");
        foreach (var i in DualAttentionLayers)
            ConfigJson.Require(i >= 0 && i < NumLayers, source, "dual_attention_layers", $"names layer {i}, outside 0..{NumLayers - 1}");
        return this;
    }
}
