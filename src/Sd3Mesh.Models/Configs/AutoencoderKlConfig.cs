using System.Text.Json.Serialization;

namespace Sd3Mesh.Models.Configs;

/// <summary>
/// diffusers' AutoencoderKL config (vae/config.json; optimum copies it to vae_decoder/ and vae_encoder/).
/// Defaults are diffusers' own; SD3: 16 latent channels, [128, 256, 512, 512], no quant convs,
/// scaling_factor 1.5305, shift_factor 0.0609.
/// </summary>
public sealed record AutoencoderKlConfig
{
    [JsonPropertyName("_class_name")] public string ClassName { get; init; } = "AutoencoderKL";
    [JsonPropertyName("_diffusers_version")] public string DiffusersVersion { get; init; } = "0.31.0";
    public int InChannels { get; init; } = 3;
    public int OutChannels { get; init; } = 3;
    public string[] DownBlockTypes { get; init; } = ["DownEncoderBlock2D"];
    public string[] UpBlockTypes { get; init; } = ["UpDecoderBlock2D"];
    public int[] BlockOutChannels { get; init; } = [64];
    public int LayersPerBlock { get; init; } = 1;
    public string ActFn { get; init; } = "silu";
    public int LatentChannels { get; init; } = 4;
    public int NormNumGroups { get; init; } = 32;
    public int SampleSize { get; init; } = 32;
    public double ScalingFactor { get; init; } = 0.18215;
    public double? ShiftFactor { get; init; }
    public bool ForceUpcast { get; init; } = true;
    public bool UseQuantConv { get; init; } = true;
    public bool UsePostQuantConv { get; init; } = true;
    public bool MidBlockAddAttention { get; init; } = true;

    /// <summary>Spatial factor between image and latent: 2^(number of blocks - 1).</summary>
    [JsonIgnore] public int DownscaleFactor => 1 << (BlockOutChannels.Length - 1);

    public AutoencoderKlConfig Validate(string source)
    {
        ConfigJson.Require(BlockOutChannels.Length > 0, source, "block_out_channels", "is empty");
        ConfigJson.Require(DownBlockTypes.Length == BlockOutChannels.Length, source, "down_block_types",
            $"has {DownBlockTypes.Length} entries, block_out_channels has {BlockOutChannels.Length}");
        ConfigJson.Require(UpBlockTypes.Length == BlockOutChannels.Length, source, "up_block_types",
            $"has {UpBlockTypes.Length} entries, block_out_channels has {BlockOutChannels.Length}");
        foreach (var t in DownBlockTypes)
            ConfigJson.Require(t == "DownEncoderBlock2D", source, "down_block_types", $"contains '{t}' (only DownEncoderBlock2D is supported)");
        foreach (var t in UpBlockTypes)
            ConfigJson.Require(t == "UpDecoderBlock2D", source, "up_block_types", $"contains '{t}' (only UpDecoderBlock2D is supported)");
        ConfigJson.Require(ActFn == "silu", source, "act_fn", $"'{ActFn}' is not supported (expected silu)");
        ConfigJson.Require(NormNumGroups > 0, source, "norm_num_groups", $"must be positive (is {NormNumGroups})");
        foreach (var c in BlockOutChannels)
            ConfigJson.Require(c > 0 && c % NormNumGroups == 0, source, "block_out_channels",
                $"entry {c} is not a positive multiple of norm_num_groups ({NormNumGroups})");
        ConfigJson.Require(LayersPerBlock > 0, source, "layers_per_block", $"must be positive (is {LayersPerBlock})");
        ConfigJson.Require(LatentChannels > 0, source, "latent_channels", $"must be positive (is {LatentChannels})");
        ConfigJson.Require(InChannels > 0 && OutChannels > 0, source, "in_channels/out_channels", "must be positive");
        return this;
    }
}
