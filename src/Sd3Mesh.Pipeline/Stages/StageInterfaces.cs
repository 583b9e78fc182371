using Sd3Mesh.Pipeline.Guidance;
using Sd3Mesh.Pipeline.Prompting;
using Sd3Mesh.Pipeline.Sampling;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Stages;

/// <summary>
/// The SD3 submodules as tensor-in, tensor-out stages. The single-process pipeline implements them with
/// ONNX Runtime sessions; the grain runtime implements the same interfaces with grains on remote
/// devices. Tensors may be float32 or float16; the pipeline's own arithmetic is float32.
/// </summary>
public static class StageNames
{
    public const string TextEncoder = "text_encoder";
    public const string TextEncoder2 = "text_encoder_2";
    public const string TextEncoder3 = "text_encoder_3";
    public const string Transformer = "transformer";
    public const string VaeDecoder = "vae_decoder";
    public const string VaeEncoder = "vae_encoder";
}

/// <summary>A CLIP text encoder's outputs for one batch of token rows.</summary>
/// <param name="Pooled">text_embeds, the projected pooled embedding [B, projection_dim].</param>
/// <param name="HiddenState">the requested hidden state [B, 77, hidden_size].</param>
public sealed record ClipTextEncoding(Tensor Pooled, Tensor HiddenState);

/// <summary>CLIP-L (text_encoder) or OpenCLIP bigG (text_encoder_2) with projection.</summary>
public interface IClipTextEncoder
{
    /// <summary>
    /// Encodes input_ids [B, 77] (int64). <paramref name="hiddenStateFromEnd"/> picks hidden_states[-k]
    /// in transformers' numbering (k = 1 is the last layer's output; SD3 uses k = 2, or clip_skip + 2).
    /// </summary>
    Task<ClipTextEncoding> EncodeAsync(Tensor inputIds, int hiddenStateFromEnd, CancellationToken cancellationToken = default);
}

/// <summary>T5-XXL encoder (text_encoder_3): input_ids [B, T] -> last_hidden_state [B, T, d_model].</summary>
public interface IT5TextEncoder
{
    Task<Tensor> EncodeAsync(Tensor inputIds, CancellationToken cancellationToken = default);
}

/// <summary>The MMDiT transformer's forward pass: predicts the flow-matching velocity.</summary>
public interface IVelocityModel
{
    /// <param name="hiddenStates">latents [B, C, H/8, W/8]</param>
    /// <param name="encoderHiddenStates">prompt embeddings [B, 77 + T, joint_attention_dim]</param>
    /// <param name="pooledProjections">pooled embeddings [B, pooled_projection_dim]</param>
    /// <param name="timestep">float32 [B]: sigma * num_train_timesteps</param>
    /// <returns>the velocity, shaped like <paramref name="hiddenStates"/></returns>
    Task<Tensor> PredictAsync(Tensor hiddenStates, Tensor encoderHiddenStates, Tensor pooledProjections, Tensor timestep,
        CancellationToken cancellationToken = default);
}

/// <summary>
/// The transformer as the denoising loop uses it: bound once per job to the job's starting latents and prompt
/// embeddings (<see cref="BeginAsync"/>), so each step moves nothing but the step's index. Implemented on the host
/// over any <see cref="IVelocityModel"/> (<see cref="Denoising.HostDenoiser"/>) and, for ONNX Runtime on a GPU, with
/// latents and embeddings resident in device memory.
/// </summary>
public interface IDenoiser
{
    Task<IDenoisingJob> BeginAsync(DenoisingSetup setup, CancellationToken cancellationToken = default);
}

/// <summary>One job's denoising: its latents, where they live, and its conditioning.</summary>
public interface IDenoisingJob : IAsyncDisposable
{
    /// <summary>
    /// Step <paramref name="index"/> of the schedule (an index into its timesteps): the velocity with classifier-free
    /// guidance, then the flow-matching Euler update of the latents.
    /// </summary>
    Task StepAsync(int index, CancellationToken cancellationToken = default);

    /// <summary>
    /// The latents now, float32 [count, C, H/8, W/8]. On the host this is the job's own buffer (no copy; it changes
    /// with the next step); latents on a device are copied out, which is why the loop asks only when needed.
    /// </summary>
    Task<Tensor> ReadLatentsAsync(CancellationToken cancellationToken = default);
}

/// <summary>
/// What a denoising job is bound to: the starting latents (float32 [count, C, H/8, W/8]), the prompt embeddings
/// (the negative ones when guidance is on), the guidance scale and how its two passes reach the transformer, the
/// schedule, and where stage times go.
/// </summary>
public sealed record DenoisingSetup(
    Tensor Latents,
    PromptEmbeddings Positive,
    PromptEmbeddings? Negative,
    double GuidanceScale,
    CfgMode CfgMode,
    FlowMatchSchedule Schedule,
    StageTimings Timings)
{
    /// <summary>Classifier-free guidance runs (a negative side was given).</summary>
    public bool Guidance => Negative is not null;
}

/// <summary>VAE decoder: latent_sample [B, C, h, w] (already unscaled) -> sample [B, 3, 8h, 8w] in about [-1, 1].</summary>
public interface IVaeDecoder
{
    Task<Tensor> DecodeAsync(Tensor latentSample, CancellationToken cancellationToken = default);
}

/// <summary>VAE encoder: sample [B, 3, H, W] in [-1, 1] -> latent_parameters [B, 2C, H/8, W/8] (mean, then logvar).</summary>
public interface IVaeEncoder
{
    Task<Tensor> EncodeAsync(Tensor sample, CancellationToken cancellationToken = default);
}
