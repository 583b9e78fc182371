using System.Text.Json.Serialization;

namespace Sd3Mesh.Models.Configs;

/// <summary>
/// transformers' CLIPTextConfig as saved in text_encoder/config.json and text_encoder_2/config.json
/// (CLIPTextModelWithProjection). Defaults are transformers' own.
/// </summary>
public sealed record ClipTextConfig
{
    public string[] Architectures { get; init; } = ["CLIPTextModelWithProjection"];
    public string ModelType { get; init; } = "clip_text_model";
    public int VocabSize { get; init; } = 49408;
    public int HiddenSize { get; init; } = 512;
    public int IntermediateSize { get; init; } = 2048;
    public int ProjectionDim { get; init; } = 512;
    public int NumHiddenLayers { get; init; } = 12;
    public int NumAttentionHeads { get; init; } = 8;
    public int MaxPositionEmbeddings { get; init; } = 77;
    /// <summary>quick_gelu (CLIP-L), gelu (OpenCLIP bigG, erf form) or gelu_new (tanh form).</summary>
    public string HiddenAct { get; init; } = "quick_gelu";
    public double LayerNormEps { get; init; } = 1e-5;
    public int PadTokenId { get; init; } = 1;
    public int BosTokenId { get; init; } = 49406;
    /// <summary>2 (the legacy value in SD3's configs) means "pool at argmax(input_ids)", as transformers does.</summary>
    public int EosTokenId { get; init; } = 49407;
    public double InitializerFactor { get; init; } = 1.0;
    [JsonPropertyName("torch_dtype")] public string? TorchDtype { get; init; }

    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;

    public ClipTextConfig Validate(string source)
    {
        ConfigJson.Require(VocabSize > 0, source, "vocab_size", $"must be positive (is {VocabSize})");
        ConfigJson.Require(HiddenSize > 0, source, "hidden_size", $"must be positive (is {HiddenSize})");
        ConfigJson.Require(NumAttentionHeads > 0 && HiddenSize % NumAttentionHeads == 0, source, "num_attention_heads",
            $"({NumAttentionHeads}) must divide hidden_size ({HiddenSize})");
        ConfigJson.Require(NumHiddenLayers > 0, source, "num_hidden_layers", $"must be positive (is {NumHiddenLayers})");
        ConfigJson.Require(IntermediateSize > 0, source, "intermediate_size", $"must be positive (is {IntermediateSize})");
        ConfigJson.Require(ProjectionDim > 0, source, "projection_dim", $"must be positive (is {ProjectionDim})");
        ConfigJson.Require(MaxPositionEmbeddings > 0, source, "max_position_embeddings", $"must be positive (is {MaxPositionEmbeddings})");
        ConfigJson.Require(HiddenAct is "quick_gelu" or "gelu" or "gelu_new", source, "hidden_act",
            $"'{HiddenAct}' is not supported (expected quick_gelu, gelu or gelu_new)");
        return this;
    }
}
