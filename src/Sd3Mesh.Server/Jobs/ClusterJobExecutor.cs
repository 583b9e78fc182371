using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Runtime.Catalog;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Grains;
using Sd3Mesh.Runtime.Jobs;
using Sd3Mesh.Runtime.Placement;
using Sd3Mesh.Runtime.Stages;
using IGrainFactory = Orleans.IGrainFactory;
using OrleansMessageRejectionException = Orleans.Runtime.OrleansMessageRejectionException;

namespace Sd3Mesh.Server.Jobs;

/// <summary>
/// Runs each job on the grain runtime: a coordinator grain per job, placed on a transformer's device (replicas take
/// jobs in turn), with an observer on this silo that turns the coordinator's progress into the job's events. The one
/// code path for a job, whether the cluster is `sd3mesh cluster up`'s processes, `serve`'s single silo, or the
/// embedded silo of a local `generate`. A coordinator lost with its silo is replaced: the job runs again from the last
/// checkpoint it reported (<see cref="ExecuteAsync"/>).
/// </summary>
public sealed class ClusterJobExecutor(IGrainFactory grains, ModelCatalog catalog, ILogger<ClusterJobExecutor>? logger = null) : IJobExecutor
{
    private readonly ILogger _logger = logger ?? (ILogger)NullLogger.Instance;
    private int _next;

    public Sd3ModelConfig Model => catalog.Folder.Model;
    Sd3ModelConfig? IJobExecutor.Model => Model;

    /// <summary>How long a job keeps sending its coordinator's Run while Orleans rejects it with no progress made (membership settling after a silo died).</summary>
    public static readonly TimeSpan RejectedRetryTime = TimeSpan.FromSeconds(20);

    /// <summary>How many times one job's coordinator may be replaced after its silo died mid-job.</summary>
    public const int MaxResumes = 5;

    /// <summary>
    /// Runs the job on a coordinator grain. When Orleans rejects the coordinator's Run (its silo died mid-job, taking the
    /// transformer it sits with, or was not yet declared dead when the job started), a new coordinator is placed by the
    /// same rule: on the transformer's device, else on its configured fallback. It resumes from the last checkpoint the
    /// job reported (the latents every <see cref="GenerationSpec.CheckpointInterval"/> steps; from the start without
    /// one), as a restarted primary does, and so ends with the images of an uninterrupted run. With nowhere to place it,
    /// the job fails UNAVAILABLE naming the lost silo and the transformer.
    /// </summary>
    public async Task<IReadOnlyList<JobImage>> ExecuteAsync(GenerationSpec spec, IJobProgress progress, CancellationToken cancellationToken)
    {
        var device = CoordinatorDevice();
        var request = spec.Request;
        var sinceProgress = System.Diagnostics.Stopwatch.StartNew();
        for (int resumes = 0; ; )
        {
            var relay = new Observer(progress);
            try
            {
                var outputs = await RunAsync(progress.JobId, device, request, spec, relay, cancellationToken).ConfigureAwait(false);
                return [.. outputs.Select(o => new JobImage(o.MediaType, o.Data, o.Width, o.Height, o.Seed))];
            }
            catch (OrleansMessageRejectionException e) when (!cancellationToken.IsCancellationRequested
                && (relay.Progressed ? resumes++ < MaxResumes : sinceProgress.Elapsed < RejectedRetryTime))
            {
                if (relay.Progressed)
                {
                    sinceProgress.Restart();
                    request = request with { Resume = relay.Checkpoint ?? request.Resume };
                    _logger.LogWarning("job {JobId}: its coordinator on {Device} was lost ({Error}); a new one resumes it from {From}",
                        progress.JobId, device.ToString(), e.GetType().Name, request.Resume is { } r ? $"its checkpoint after step {r.Step}" : "the start");
                }
                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
            }
            catch (OrleansMessageRejectionException e)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, $"the job could not reach its coordinator grain: {e.Message.Split('\n')[0]}"));
            }
            catch (DevicePlacementException e)
            {
                // Its silo is gone and the transformer has no fallback on an active silo: nowhere to run the job.
                throw new RpcException(new Status(StatusCode.Unavailable,
                    $"transformer is unavailable: the job's coordinator cannot be placed ({e.Message})"));
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
        }
    }

    /// <summary>A transformer's device: CFG-parallel jobs use both transformers (the coordinator sits with the conditional one); replicas take turns.</summary>
    private Onnx.Device CoordinatorDevice()
    {
        var transformers = catalog.Plan.Replicas(PlacedSubmodule.Transformer);
        return catalog.Config.CfgParallel
            ? transformers[0].Key.Device
            : transformers[(int)((uint)Interlocked.Increment(ref _next) % (uint)transformers.Count)].Key.Device;
    }

    /// <summary>One run of the job on a coordinator of its own, with an observer on this silo for its progress.</summary>
    private async Task<JobOutput[]> RunAsync(string jobId, Onnx.Device device, GenerationRequest request, GenerationSpec spec, Observer relay,
        CancellationToken cancellationToken)
    {
        // Keyed by the job's id and this run of it (job/ID-RUN@DEVICE): the dashboard finds a job's coordinator among the
        // activations, and a job run again (after a restart, or its coordinator's silo died) never meets an earlier run's.
        string id = $"{jobId}-{Guid.NewGuid().ToString("N")[..8]}";
        var coordinator = grains.GetGrain<IJobCoordinatorGrain>(new DeviceKey(Fallbacks.JobPrefix + id, device).ToString());
        // Orleans holds observer objects weakly: the relay is kept alive until the run has ended.
        var observer = grains.CreateObjectReference<IJobObserver>(relay);
        try
        {
            return await coordinator.Run(new JobRequest(id, request, spec.PreviewInterval, spec.CheckpointInterval), observer, cancellationToken)
                .ConfigureAwait(false);
        }
        finally
        {
            grains.DeleteObjectReference<IJobObserver>(observer);
            GC.KeepAlive(relay);
        }
    }

    /// <summary>Turns a coordinator's progress into the job's events, and remembers how far it got (a new coordinator resumes there).</summary>
    private sealed class Observer(IJobProgress progress) : IJobObserver
    {
        private volatile bool _progressed;
        private volatile DenoisingCheckpoint? _checkpoint;

        /// <summary>The coordinator has reported anything (it ran): a lost one is replaced, however long the job had run.</summary>
        public bool Progressed => _progressed;

        /// <summary>The latest latents the coordinator reported, with their step.</summary>
        public DenoisingCheckpoint? Checkpoint => _checkpoint;

        public Task OnProgress(JobProgress p)
        {
            _progressed = true;
            if (p.Spans.Length > 0) progress.SpansRecorded(p.Spans);
            if (p.SpansOnly) return Task.CompletedTask;
            if (!p.IsStep) progress.StageStarted(p.Stage);
            else
            {
                if (p.Checkpoint is { } latents) _checkpoint = new DenoisingCheckpoint(p.Step, latents);
                progress.StepCompleted(p.Step, p.TotalSteps, p.PreviewPng is { } png ? new JobPreview(JobImage.Png, png, p.PreviewWidth, p.PreviewHeight) : null,
                    p.Checkpoint);
            }
            return Task.CompletedTask;
        }
    }
}
