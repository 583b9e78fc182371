using System.Diagnostics;
using Sd3Mesh.Models;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Pipeline.Prompting;
using Sd3Mesh.Pipeline.Sampling;
using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Runtime.Devices;
using Sd3Mesh.Runtime.Catalog;
using Sd3Mesh.Runtime.Metrics;
using Sd3Mesh.Runtime.Placement;
using Sd3Mesh.Runtime.Tensors;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Grains;

/// <summary>The transformer's session and the denoiser over it (device-resident on CUDA).</summary>
public sealed class TransformerSessions(OnnxSubmodule submodule, OnnxDenoiser denoiser) : IDisposable
{
    public OnnxSubmodule Submodule { get; } = submodule;
    public OnnxDenoiser Denoiser { get; } = denoiser;

    public void Dispose()
    {
        Denoiser.Dispose();
        Submodule.Dispose();
    }
}

/// <summary>
/// The MMDiT transformer on its device. Each job it denoises holds its sessions (a lease) from Begin to End, so the
/// device's budget never takes them away mid-job; jobs a coordinator abandoned (no call for <see cref="JobLifetime"/>)
/// expire.
/// </summary>
[DevicePlacement]
public sealed class TransformerGrain(ModelCatalog catalog, DeviceMemories memories, ITensorExchange tensors, RuntimeMetrics metrics,
    GrainReports reports)
    : SubmoduleGrain<TransformerSessions>(catalog, memories, tensors, metrics, reports), ITransformerGrain
{
    public static readonly TimeSpan JobLifetime = TimeSpan.FromMinutes(30);

    private sealed record Held(GrainSessions<TransformerSessions>.Lease Lease)
    {
        public IDenoisingJob? Job { get; init; }
        public PromptEmbeddings? Bound { get; init; }
        /// <summary>The job's last call (its coordinator is alive while it calls).</summary>
        public DateTime Touched { get; set; } = DateTime.UtcNow;
    }

    private readonly Dictionary<string, Held> _jobs = new(StringComparer.Ordinal);

    protected override async Task<TransformerSessions> LoadAsync(CancellationToken cancellationToken)
    {
        var options = Catalog.SessionOptions;
        var submodule = Catalog.Folder.CreateSession(Submodule.Transformer, LocalDevice, options, new OrtRunClock(), cudaGraph: options.CudaGraph);
        try
        {
            await submodule.Queue.RunAsync(_ => submodule.Session, cancellationToken);
            var residency = options.CudaGraph ? DenoiseResidency.Device : options.Residency;
            return new TransformerSessions(submodule, new OnnxDenoiser(submodule, null, residency));
        }
        catch
        {
            submodule.Dispose();
            throw;
        }
    }

    public Task Begin(string job, DenoiseStart start, CancellationToken cancellationToken = default) =>
        CallAsync(async _ =>
        {
            Expire();
            var lease = await Sessions.AcquireAsync(cancellationToken);
            try
            {
                var setup = new DenoisingSetup(
                    await Tensors.ResolveAsync(start.Latents, cancellationToken),
                    new PromptEmbeddings(await Tensors.ResolveAsync(start.Embeds, cancellationToken), await Tensors.ResolveAsync(start.Pooled, cancellationToken)),
                    start.NegativeEmbeds is { } ne && start.NegativePooled is { } np
                        ? new PromptEmbeddings(await Tensors.ResolveAsync(ne, cancellationToken), await Tensors.ResolveAsync(np, cancellationToken))
                        : null,
                    start.GuidanceScale, start.CfgMode, new FlowMatchSchedule(start.Timesteps, start.Sigmas, start.BeginIndex), new StageTimings());
                var denoising = await lease.Sessions.Denoiser.BeginAsync(setup, cancellationToken);
                _jobs[job] = new Held(lease) { Job = denoising };
                return 0;
            }
            catch
            {
                lease.Dispose();
                throw;
            }
        }, cancellationToken);

    public Task Step(string job, int index, CancellationToken cancellationToken = default) =>
        Timed(() => Denoising(job).StepAsync(index, cancellationToken));

    public async Task<TensorRef> ReadLatents(string job, CancellationToken cancellationToken = default) =>
        // A copy: on the host the job's buffer changes with its next step.
        Tensors.Publish((await Denoising(job).ReadLatentsAsync(cancellationToken)).Clone());

    public async Task End(string job)
    {
        if (!_jobs.Remove(job, out var held)) return;
        try
        {
            if (held.Job is { } denoising) await denoising.DisposeAsync();
        }
        finally
        {
            held.Lease.Dispose();
        }
    }

    public Task Bind(string job, TensorRef embeds, TensorRef pooled, CancellationToken cancellationToken = default) =>
        CallAsync(async _ =>
        {
            Expire();
            var conditioning = new PromptEmbeddings(await Tensors.ResolveAsync(embeds, cancellationToken), await Tensors.ResolveAsync(pooled, cancellationToken));
            if (_jobs.TryGetValue(job, out var held)) _jobs[job] = held with { Bound = conditioning };
            else _jobs[job] = new Held(await Sessions.AcquireAsync(cancellationToken)) { Bound = conditioning };
            return 0;
        }, cancellationToken);

    public async Task<TensorRef> Predict(string job, TensorRef latents, TensorRef timestep, CancellationToken cancellationToken = default)
    {
        var held = HeldJob(job);
        var conditioning = held.Bound ?? throw new InvalidOperationException($"{Placed.Key}: job {job} has no bound prompt embeddings (call Bind first)");
        var x = await Tensors.ResolveAsync(latents, cancellationToken);
        var t = await Tensors.ResolveAsync(timestep, cancellationToken);
        var velocity = await Timed(() => held.Lease.Sessions.Denoiser.Transformer.PredictAsync(x, conditioning.Embeds, conditioning.Pooled, t, cancellationToken));
        return Tensors.Publish(velocity);
    }

    private IDenoisingJob Denoising(string job) =>
        HeldJob(job).Job ?? throw new InvalidOperationException($"{Placed.Key}: job {job} was bound for CFG-parallel passes, not begun");

    private Held HeldJob(string job)
    {
        if (!_jobs.TryGetValue(job, out var held))
            throw new InvalidOperationException($"{Placed.Key} holds no job {job} (never begun, ended, or expired after {JobLifetime} without a call)");
        held.Touched = DateTime.UtcNow;
        return held;
    }

    private async Task Timed(Func<Task> call)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            await call();
            RecordCall(Stopwatch.GetElapsedTime(start));
        }
        catch (Exception e)
        {
            RecordCall(Stopwatch.GetElapsedTime(start), e);
            throw;
        }
    }

    private async Task<TResult> Timed<TResult>(Func<Task<TResult>> call)
    {
        TResult result = default!;
        // A statement lambda: `async () => result = await call()` is a Func<Task<TResult>>, and would call this overload again.
        await Timed(async () => { result = await call(); });
        return result;
    }

    /// <summary>Ends jobs nobody called for <see cref="JobLifetime"/> (their coordinator died), releasing their sessions.</summary>
    private void Expire()
    {
        foreach (var (job, held) in _jobs.Where(j => DateTime.UtcNow - j.Value.Touched > JobLifetime).ToArray())
        {
            _jobs.Remove(job);
            if (held.Job is { } denoising) _ = denoising.DisposeAsync().AsTask();
            held.Lease.Dispose();
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        foreach (var job in _jobs.Keys.ToArray()) await End(job);
        await base.OnDeactivateAsync(reason, cancellationToken);
    }
}
