using System.Text.Json.Serialization;

namespace Sd3Mesh.Models.Configs;

/// <summary>
/// transformers' T5Config as saved in text_encoder_3/config.json (T5EncoderModel). Defaults are transformers'
/// own; SD3 uses T5 v1.1 XXL ("gated-gelu", d_model 4096, 24 layers, 64 heads).
/// </summary>
public sealed record T5EncoderConfig
{
    public string[] Architectures { get; init; } = ["T5EncoderModel"];
    public string ModelType { get; init; } = "t5";
    public int VocabSize { get; init; } = 32128;
    public int DModel { get; init; } = 512;
    public int DKv { get; init; } = 64;
    public int DFf { get; init; } = 2048;
    public int NumLayers { get; init; } = 6;
    public int NumHeads { get; init; } = 8;
    public int RelativeAttentionNumBuckets { get; init; } = 32;
    public int RelativeAttentionMaxDistance { get; init; } = 128;
    public double LayerNormEpsilon { get; init; } = 1e-6;
    /// <summary>"relu", "gated-gelu" (T5 v1.1), "gated-silu", ...: "[gated-]activation".</summary>
    public string FeedForwardProj { get; init; } = "relu";
    /// <summary>Overrides the activation named by feed_forward_proj when present.</summary>
    public string? DenseActFn { get; init; }
    public bool? IsGatedAct { get; init; }
    public double InitializerFactor { get; init; } = 1.0;
    public int PadTokenId { get; init; }
    public int EosTokenId { get; init; } = 1;
    public string? TorchDtype { get; init; }

    [JsonIgnore] public int InnerDim => NumHeads * DKv;

    /// <summary>Gated feed-forward (wi_0, wi_1) rather than a single wi.</summary>
    [JsonIgnore] public bool Gated => IsGatedAct ?? FeedForwardProj.StartsWith("gated-", StringComparison.Ordinal);

    /// <summary>The activation as transformers resolves it ("gated-gelu" means gelu_new, the tanh form).</summary>
    [JsonIgnore] public string Activation
    {
        get
        {
            if (FeedForwardProj == "gated-gelu") return "gelu_new";
            if (DenseActFn is not null) return DenseActFn;
            var parts = FeedForwardProj.Split('-');
            return parts[^1];
        }
    }

    public T5EncoderConfig Validate(string source)
    {
        ConfigJson.Require(VocabSize > 0, source, "vocab_size", $"must be positive (is {VocabSize})");
        ConfigJson.Require(DModel > 0, source, "d_model", $"must be positive (is {DModel})");
        ConfigJson.Require(DKv > 0, source, "d_kv", $"must be positive (is {DKv})");
        ConfigJson.Require(DFf > 0, source, "d_ff", $"must be positive (is {DFf})");
        ConfigJson.Require(NumLayers > 0, source, "num_layers", $"must be positive (is {NumLayers})");
        ConfigJson.Require(NumHeads > 0, source, "num_heads", $"must be positive (is {NumHeads})");
        ConfigJson.Require(RelativeAttentionNumBuckets >= 4 && RelativeAttentionNumBuckets % 2 == 0, source,
            "relative_attention_num_buckets", $"must be an even number >= 4 (is {RelativeAttentionNumBuckets})");
        ConfigJson.Require(RelativeAttentionMaxDistance > RelativeAttentionNumBuckets / 4, source, "relative_attention_max_distance",
            $"({RelativeAttentionMaxDistance}) must exceed relative_attention_num_buckets / 4");
        ConfigJson.Require(Activation is "gelu_new" or "gelu" or "relu" or "silu", source, "feed_forward_proj",
            $"'{FeedForwardProj}' is not supported (expected relu, gated-gelu, gated-silu, gelu or gelu_new)");
        return this;
    }
}
