using Sd3Mesh.Pipeline.Sampling;
using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Models.Tokenizers;

namespace Sd3Mesh.Pipeline;

/// <summary>
/// Everything an SD3 job needs, as diffusers' pipeline components: the three tokenizers, the stages
/// (local sessions or remote grains), the scheduler configuration and the model dimensions. T5
/// (tokenizer_3 + text_encoder_3) and the VAE encoder are optional: without T5 its part of the prompt
/// embeddings is zeros, without the VAE encoder image-to-image is refused.
/// </summary>
public sealed record Sd3Components
{
    public required TextTokenizer Tokenizer { get; init; }
    public required TextTokenizer Tokenizer2 { get; init; }
    public TextTokenizer? Tokenizer3 { get; init; }
    public required IClipTextEncoder TextEncoder { get; init; }
    public required IClipTextEncoder TextEncoder2 { get; init; }
    public IT5TextEncoder? TextEncoder3 { get; init; }
    public required IDenoiser Transformer { get; init; }
    public required IVaeDecoder VaeDecoder { get; init; }
    public IVaeEncoder? VaeEncoder { get; init; }
    public FlowMatchSchedulerConfig Scheduler { get; init; } = FlowMatchSchedulerConfig.Sd3Medium;
    public Sd3ModelConfig Model { get; init; } = Sd3ModelConfig.Sd3Medium;
    /// <summary>A display name for metadata (e.g. the model folder's name).</summary>
    public string ModelName { get; init; } = "sd3";

    public bool HasT5 => Tokenizer3 is not null && TextEncoder3 is not null;

    /// <summary>diffusers' tokenizer_max_length: the CLIP rows' length, tokenizer's model_max_length (77 without one).</summary>
    public int ClipLength => Math.Min(Tokenizer.ModelMaxLength ?? 77, 77);
}
