using Sd3Mesh.Pipeline.Denoising;
using Sd3Mesh.Pipeline.Guidance;
using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Runtime.Grains;
using Sd3Mesh.Runtime.Tensors;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Stages;

// The pipeline's stage interfaces over grains: what the coordinator grain's Sd3Pipeline calls. Each stage publishes
// its inputs, calls its grain, and resolves the grain's outputs; failures name the grain (see StageCalls). The encoders'
// and the VAE's calls hold no state on their grain, so they are sent again when their grain fails over to its fallback
// device; the transformer's hold the job's latents, so a lost transformer fails the job.

public sealed class GrainClipTextEncoder(IClipEncoderGrain grain, ITensorExchange tensors, StageCalls calls) : IClipTextEncoder
{
    public Task<ClipTextEncoding> EncodeAsync(Tensor inputIds, int hiddenStateFromEnd, CancellationToken cancellationToken = default) =>
        calls.RunAsync(grain, "encode", async () =>
        {
            var refs = await grain.Encode(tensors.Publish(inputIds), hiddenStateFromEnd, cancellationToken).ConfigureAwait(false);
            return new ClipTextEncoding(await tensors.ResolveAsync(refs.Pooled, cancellationToken).ConfigureAwait(false),
                await tensors.ResolveAsync(refs.HiddenState, cancellationToken).ConfigureAwait(false));
        }, retry: true, cancellationToken);
}

public sealed class GrainT5TextEncoder(IT5EncoderGrain grain, ITensorExchange tensors, StageCalls calls) : IT5TextEncoder
{
    public Task<Tensor> EncodeAsync(Tensor inputIds, CancellationToken cancellationToken = default) =>
        calls.RunAsync(grain, "encode", async () => await tensors.ResolveAsync(
            await grain.Encode(tensors.Publish(inputIds), cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false),
            retry: true, cancellationToken);
}

public sealed class GrainVaeDecoder(IVaeGrain grain, ITensorExchange tensors, StageCalls calls) : IVaeDecoder
{
    public Task<Tensor> DecodeAsync(Tensor latentSample, CancellationToken cancellationToken = default) =>
        calls.RunAsync(grain, "decode", async () => await tensors.ResolveAsync(
            await grain.Decode(tensors.Publish(latentSample), cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false),
            retry: true, cancellationToken);
}

public sealed class GrainVaeEncoder(IVaeGrain grain, ITensorExchange tensors, StageCalls calls) : IVaeEncoder
{
    public Task<Tensor> EncodeAsync(Tensor sample, CancellationToken cancellationToken = default) =>
        calls.RunAsync(grain, "encode", async () => await tensors.ResolveAsync(
            await grain.Encode(tensors.Publish(sample), cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false),
            retry: true, cancellationToken);
}

/// <summary>
/// Denoising on one transformer grain: the job's latents and prompt embeddings go to the grain once (Begin); each step
/// sends only its index; the latents come back when the loop asks (previews, the end).
/// </summary>
public sealed class GrainDenoiser(ITransformerGrain grain, ITensorExchange tensors, StageCalls calls) : IDenoiser
{
    public async Task<IDenoisingJob> BeginAsync(DenoisingSetup setup, CancellationToken cancellationToken = default)
    {
        string job = Guid.NewGuid().ToString("N");
        var s = setup.Schedule;
        var start = new DenoiseStart(tensors.Publish(setup.Latents), tensors.Publish(setup.Positive.Embeds), tensors.Publish(setup.Positive.Pooled),
            setup.Negative is { } n ? tensors.Publish(n.Embeds) : null, setup.Negative is { } m ? tensors.Publish(m.Pooled) : null,
            setup.GuidanceScale, setup.CfgMode, [.. s.Timesteps], [.. s.Sigmas], s.BeginIndex);
        await calls.RunAsync(grain, "begin", () => grain.Begin(job, start, cancellationToken)).ConfigureAwait(false);
        return new Job(grain, job, tensors, calls, setup.Timings);
    }

    private sealed class Job(ITransformerGrain grain, string id, ITensorExchange tensors, StageCalls calls, Pipeline.StageTimings timings) : IDenoisingJob
    {
        // A step is the transformer's call, guidance and the Euler update, all in the grain: timed as the transformer's.
        public Task StepAsync(int index, CancellationToken cancellationToken = default) =>
            timings.MeasureAsync(StageNames.Transformer, async () =>
            {
                await calls.RunAsync(grain, "step", () => grain.Step(id, index, cancellationToken), step: index + 1).ConfigureAwait(false);
                return 0;
            });

        public Task<Tensor> ReadLatentsAsync(CancellationToken cancellationToken = default) =>
            calls.RunAsync(grain, "read_latents", async () => await tensors.ResolveAsync(await grain.ReadLatents(id, cancellationToken).ConfigureAwait(false), cancellationToken)
                .ConfigureAwait(false));

        public async ValueTask DisposeAsync() => await calls.RunAsync(grain, "end", () => grain.End(id)).ConfigureAwait(false);
    }
}

/// <summary>
/// CFG-parallel (xDiT's cfg_parallel): the conditional pass on one transformer grain and the unconditional pass on
/// another, at once, each holding its side's prompt embeddings; guidance and the Euler step run here on the host
/// (today's split-guidance loop over two velocity models).
/// </summary>
public sealed class CfgParallelDenoiser(ITransformerGrain conditional, ITransformerGrain unconditional, ITensorExchange tensors, StageCalls calls) : IDenoiser
{
    public async Task<IDenoisingJob> BeginAsync(DenoisingSetup setup, CancellationToken cancellationToken = default)
    {
        if (setup.Negative is null) // no guidance: one pass per step, on the conditional grain
            return await new GrainDenoiser(conditional, tensors, calls).BeginAsync(setup, cancellationToken).ConfigureAwait(false);
        string job = Guid.NewGuid().ToString("N");
        var cond = new BoundVelocity(conditional, job, tensors, calls);
        var uncond = new BoundVelocity(unconditional, job, tensors, calls);
        await Task.WhenAll(cond.BindAsync(setup.Positive, cancellationToken), uncond.BindAsync(setup.Negative, cancellationToken)).ConfigureAwait(false);
        var inner = await new HostDenoiser(cond, uncond).BeginAsync(setup with { CfgMode = CfgMode.Split }, cancellationToken).ConfigureAwait(false);
        return new Job(inner, cond, uncond);
    }

    private sealed class BoundVelocity(ITransformerGrain grain, string job, ITensorExchange tensors, StageCalls calls) : IVelocityModel
    {
        public Task BindAsync(Pipeline.Prompting.PromptEmbeddings side, CancellationToken ct) =>
            calls.RunAsync(grain, "bind", () => grain.Bind(job, tensors.Publish(side.Embeds), tensors.Publish(side.Pooled), ct));

        // The embeddings passed here are the ones bound above (the host loop passes each side's own every step).
        public Task<Tensor> PredictAsync(Tensor hiddenStates, Tensor encoderHiddenStates, Tensor pooledProjections, Tensor timestep,
            CancellationToken cancellationToken = default) =>
            calls.RunAsync(grain, "predict", async () => await tensors.ResolveAsync(
                await grain.Predict(job, tensors.Publish(hiddenStates), tensors.Publish(timestep), cancellationToken).ConfigureAwait(false),
                cancellationToken).ConfigureAwait(false));

        public Task EndAsync() => calls.RunAsync(grain, "end", () => grain.End(job));
    }

    private sealed class Job(IDenoisingJob inner, BoundVelocity cond, BoundVelocity uncond) : IDenoisingJob
    {
        public Task StepAsync(int index, CancellationToken cancellationToken = default) => inner.StepAsync(index, cancellationToken);
        public Task<Tensor> ReadLatentsAsync(CancellationToken cancellationToken = default) => inner.ReadLatentsAsync(cancellationToken);

        public async ValueTask DisposeAsync()
        {
            await inner.DisposeAsync().ConfigureAwait(false);
            await Task.WhenAll(cond.EndAsync(), uncond.EndAsync()).ConfigureAwait(false);
        }
    }
}
