using Grpc.Core;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Runtime.Catalog;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Grains;
using Sd3Mesh.Runtime.Jobs;
using Sd3Mesh.Runtime.Stages;
using IGrainFactory = Orleans.IGrainFactory;
using OrleansMessageRejectionException = Orleans.Runtime.OrleansMessageRejectionException;

namespace Sd3Mesh.Server.Jobs;

/// <summary>
/// Runs each job on the grain runtime: a coordinator grain per job, placed on a transformer's device (replicas take
/// jobs in turn), with an observer on this silo that turns the coordinator's progress into the job's events. The one
/// code path for a job, whether the cluster is `sd3mesh cluster up`'s processes, `serve`'s single silo, or the
/// embedded silo of a local `generate`.
/// </summary>
public sealed class ClusterJobExecutor(IGrainFactory grains, ModelCatalog catalog) : IJobExecutor
{
    private int _next;

    public Sd3ModelConfig Model => catalog.Folder.Model;
    Sd3ModelConfig? IJobExecutor.Model => Model;

    public async Task<IReadOnlyList<JobImage>> ExecuteAsync(GenerationSpec spec, IJobProgress progress, CancellationToken cancellationToken)
    {
        var transformers = catalog.Plan.Replicas(PlacedSubmodule.Transformer);
        // CFG-parallel jobs use both transformers (the coordinator sits with the conditional one); replicas take turns.
        var device = catalog.Config.CfgParallel
            ? transformers[0].Key.Device
            : transformers[(int)((uint)Interlocked.Increment(ref _next) % (uint)transformers.Count)].Key.Device;
        // Keyed by the job's id and this run of it (job/ID-RUN@DEVICE): the dashboard finds a job's coordinator among the
        // activations, and a job run again after a restart never meets a coordinator left from its earlier run.
        string id = $"{progress.JobId}-{Guid.NewGuid().ToString("N")[..8]}";
        var coordinator = grains.GetGrain<IJobCoordinatorGrain>(new Runtime.Placement.DeviceKey(Runtime.Placement.Fallbacks.JobPrefix + id, device).ToString());
        // Orleans holds observer objects weakly: this local keeps it alive until the job has ended.
        var relay = new Observer(progress);
        var observer = grains.CreateObjectReference<IJobObserver>(relay);
        try
        {
            var outputs = await RunAsync(coordinator, new JobRequest(id, spec.Request, spec.PreviewInterval, spec.CheckpointInterval), observer,
                cancellationToken).ConfigureAwait(false);
            return [.. outputs.Select(o => new JobImage(o.MediaType, o.Data, o.Width, o.Height, o.Seed))];
        }
        catch (SubmoduleUnavailableException e)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, e.Message));
        }
        catch (SubmoduleLoadException e)
        {
            // Not transient: the model or the device needs fixing before a retry can work.
            throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message));
        }
        catch (OrleansMessageRejectionException e)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"the job could not reach its coordinator grain: {e.Message.Split('\n')[0]}"));
        }
        finally
        {
            grains.DeleteObjectReference<IJobObserver>(observer);
            GC.KeepAlive(relay);
        }
    }

    /// <summary>How long a job's first message waits for membership to settle after a silo died (declared dead within seconds).</summary>
    public static readonly TimeSpan RejectedRetryTime = TimeSpan.FromSeconds(20);

    /// <summary>
    /// The coordinator's Run, sent again while Orleans refuses to deliver it: right after a silo dies, and until
    /// membership declares it dead, a new grain's directory entry may live on that silo and every message to the grain is
    /// rejected unsent. Once the dead silo is out of the ring the job runs, and a stage that needs that silo fails it
    /// with UNAVAILABLE naming the silo (<see cref="SubmoduleUnavailableException"/>).
    /// </summary>
    private static async Task<JobOutput[]> RunAsync(IJobCoordinatorGrain coordinator, JobRequest job, IJobObserver observer, CancellationToken cancellationToken)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await coordinator.Run(job, observer, cancellationToken).ConfigureAwait(false);
            }
            catch (OrleansMessageRejectionException) when (clock.Elapsed < RejectedRetryTime && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private sealed class Observer(IJobProgress progress) : IJobObserver
    {
        public Task OnProgress(JobProgress p)
        {
            if (p.Spans.Length > 0) progress.SpansRecorded(p.Spans);
            if (p.SpansOnly) return Task.CompletedTask;
            if (!p.IsStep) progress.StageStarted(p.Stage);
            else progress.StepCompleted(p.Step, p.TotalSteps, p.PreviewPng is { } png ? new JobPreview(JobImage.Png, png, p.PreviewWidth, p.PreviewHeight) : null,
                p.Checkpoint);
            return Task.CompletedTask;
        }
    }
}
