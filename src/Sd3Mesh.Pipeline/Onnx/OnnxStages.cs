using System.Globalization;
using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Onnx;

/// <summary>
/// CLIP text encoder (with projection) on ONNX Runtime: input_ids -> text_embeds and hidden_states.N as
/// optimum exports them (hidden_states.0 is the embeddings, hidden_states.L the last layer).
/// </summary>
public sealed class OnnxClipTextEncoder(OnnxSubmodule submodule) : IClipTextEncoder
{
    /// <summary>The number of layers: the highest N of the hidden_states.N outputs.</summary>
    public int Layers { get; } = submodule.Info.Outputs
        .Select(o => o.Name.StartsWith("hidden_states.", StringComparison.Ordinal) && int.TryParse(o.Name["hidden_states.".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : -1)
        .DefaultIfEmpty(-1).Max();

    public Task<ClipTextEncoding> EncodeAsync(Tensor inputIds, int hiddenStateFromEnd, CancellationToken cancellationToken = default)
    {
        if (Layers < 0)
            throw new InvalidDataException($"{submodule.Info.ModelPath} has no hidden_states.N outputs; SD3 needs the penultimate hidden state (export with output_hidden_states)");
        int index = Layers + 1 - hiddenStateFromEnd;
        if (index < 0 || index > Layers)
            throw new ArgumentOutOfRangeException(nameof(hiddenStateFromEnd), hiddenStateFromEnd,
                $"{submodule.Name} has {Layers} layers: hidden_states[-{hiddenStateFromEnd}] does not exist (clip_skip at most {Layers - 1})");
        string hidden = "hidden_states." + index.ToString(CultureInfo.InvariantCulture);
        return Encode();

        async Task<ClipTextEncoding> Encode()
        {
            var outputs = await submodule.RunAsync(new Dictionary<string, Tensor> { ["input_ids"] = inputIds }, ["text_embeds", hidden], cancellationToken)
                .ConfigureAwait(false);
            return new ClipTextEncoding(outputs["text_embeds"], outputs[hidden]);
        }
    }
}

/// <summary>T5 encoder on ONNX Runtime: input_ids -> last_hidden_state.</summary>
public sealed class OnnxT5TextEncoder(OnnxSubmodule submodule) : IT5TextEncoder
{
    public Task<Tensor> EncodeAsync(Tensor inputIds, CancellationToken cancellationToken = default) =>
        submodule.RunOneAsync(new Dictionary<string, Tensor> { ["input_ids"] = inputIds }, "last_hidden_state", cancellationToken);
}

/// <summary>The SD3 transformer's forward pass on ONNX Runtime (host tensors in and out).</summary>
public sealed class OnnxTransformer(OnnxSubmodule submodule) : IVelocityModel
{
    public OnnxSubmodule Submodule => submodule;

    public Task<Tensor> PredictAsync(Tensor hiddenStates, Tensor encoderHiddenStates, Tensor pooledProjections, Tensor timestep,
        CancellationToken cancellationToken = default) =>
        submodule.RunOneAsync(new Dictionary<string, Tensor>
        {
            ["hidden_states"] = hiddenStates,
            ["encoder_hidden_states"] = encoderHiddenStates,
            ["pooled_projections"] = pooledProjections,
            ["timestep"] = timestep,
        }, "out_hidden_states", cancellationToken);
}

/// <summary>VAE decoder on ONNX Runtime: latent_sample -> sample.</summary>
public sealed class OnnxVaeDecoder(OnnxSubmodule submodule) : IVaeDecoder
{
    public Task<Tensor> DecodeAsync(Tensor latentSample, CancellationToken cancellationToken = default) =>
        submodule.RunOneAsync(new Dictionary<string, Tensor> { ["latent_sample"] = latentSample }, "sample", cancellationToken);
}

/// <summary>VAE encoder on ONNX Runtime: sample -> latent_parameters (mean and logvar).</summary>
public sealed class OnnxVaeEncoder(OnnxSubmodule submodule) : IVaeEncoder
{
    public Task<Tensor> EncodeAsync(Tensor sample, CancellationToken cancellationToken = default) =>
        submodule.RunOneAsync(new Dictionary<string, Tensor> { ["sample"] = sample }, "latent_parameters", cancellationToken);
}
