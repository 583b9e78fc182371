using Sd3Mesh.Pipeline.Guidance;
using Sd3Mesh.Pipeline.Prompting;
using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Denoising;

/// <summary>
/// Denoising on the host over any velocity model (ONNX Runtime sessions, test doubles, remote grains): the latents
/// live in a float32 array, guidance and the Euler step are diffusers' float32 arithmetic in C#
/// (<see cref="ClassifierFreeGuidance"/>, <see cref="Sampling.FlowMatchSchedule.Step"/>). With split guidance the
/// negative pass goes to <paramref name="uncond"/> (the same model unless another device serves it), and both
/// passes are in flight at once.
/// </summary>
public sealed class HostDenoiser(IVelocityModel model, IVelocityModel? uncond = null) : IDenoiser
{
    public Task<IDenoisingJob> BeginAsync(DenoisingSetup setup, CancellationToken cancellationToken = default) =>
        Task.FromResult<IDenoisingJob>(new HostDenoisingJob(model, uncond ?? model, setup));
}

/// <summary>One job of <see cref="HostDenoiser"/>: today's loop body, step by step.</summary>
public sealed class HostDenoisingJob : IDenoisingJob
{
    private readonly IVelocityModel _model, _uncond;
    private readonly DenoisingSetup _setup;
    private readonly float[] _latents;
    private readonly TensorShape _shape;
    private readonly PromptEmbeddings _conditioning;
    private readonly Tensor? _guided;

    public HostDenoisingJob(IVelocityModel model, IVelocityModel uncond, DenoisingSetup setup)
    {
        _model = model;
        _uncond = uncond;
        _setup = setup;
        _latents = setup.Latents.ToFloatArray(); // a float32 copy: the loop updates it in place
        _shape = setup.Latents.Shape;
        // Batched guidance: one transformer call on [negative; positive] rows (diffusers' order).
        _conditioning = setup.Guidance && setup.CfgMode == CfgMode.Batched
            ? PromptEmbeddings.ConcatForGuidance(setup.Negative!, setup.Positive)
            : setup.Positive;
        // The transformer's float32 output is read in place; only guidance needs a buffer of its own.
        _guided = setup.Guidance ? Tensor.FromArray(new float[_latents.Length], _shape) : null;
    }

    public async Task StepAsync(int index, CancellationToken cancellationToken = default)
    {
        var schedule = _setup.Schedule;
        float t = schedule.Timesteps[index];
        var current = Tensor.FromArray(_latents, _shape);

        Tensor velocity;
        if (!_setup.Guidance)
        {
            velocity = await PredictAsync(_model, current, _conditioning, t, cancellationToken).ConfigureAwait(false);
        }
        else if (_setup.CfgMode == CfgMode.Batched)
        {
            var doubled = Tensor.Concat([current, current], 0);
            var v = await PredictAsync(_model, doubled, _conditioning, t, cancellationToken).ConfigureAwait(false);
            var both = v.AsSpan<float>();
            ClassifierFreeGuidance.Combine(both[.._latents.Length], both[_latents.Length..], _setup.GuidanceScale, _guided!.AsSpan<float>());
            velocity = _guided;
        }
        else
        {
            var uncond = PredictAsync(_uncond, current, _setup.Negative!, t, cancellationToken);
            var cond = PredictAsync(_model, current, _setup.Positive, t, cancellationToken);
            await Task.WhenAll(uncond, cond).ConfigureAwait(false);
            ClassifierFreeGuidance.Combine(uncond.Result.AsSpan<float>(), cond.Result.AsSpan<float>(), _setup.GuidanceScale, _guided!.AsSpan<float>());
            velocity = _guided;
        }
        _setup.Timings.Measure("scheduler", () => { schedule.Step(index, velocity.AsSpan<float>(), _latents, _latents); return 0; });
    }

    public Task<Tensor> ReadLatentsAsync(CancellationToken cancellationToken = default) => Task.FromResult(Tensor.FromArray(_latents, _shape));

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>The velocity for <paramref name="latents"/>, as float32 (the output itself when it already is).</summary>
    private async Task<Tensor> PredictAsync(IVelocityModel model, Tensor latents, PromptEmbeddings conditioning, float timestep, CancellationToken ct)
    {
        long batch = latents.Shape[0];
        var t = new float[batch];
        Array.Fill(t, timestep);
        var output = await _setup.Timings.MeasureAsync(StageNames.Transformer, () =>
            model.PredictAsync(latents, conditioning.Embeds, conditioning.Pooled, Tensor.FromArray(t, batch), ct)).ConfigureAwait(false);
        if (output.Shape != latents.Shape)
            throw new InvalidDataException($"the transformer returned {output.Shape} for latents {latents.Shape}");
        return output.AsDType(DType.Float32);
    }
}
