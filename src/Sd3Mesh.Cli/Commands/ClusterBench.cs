using System.Diagnostics;
using System.Text.Json.Serialization;
using Microsoft.Extensions.DependencyInjection;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Server;
using Sd3Mesh.Server.Jobs;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// The measurements of `sd3mesh bench cluster` (<see cref="BenchClusterCommand"/>): the same job through the
/// one-process pipeline and through the grain runtime, and a batch of queued jobs through a silo's job scheduler.
/// </summary>
internal static class ClusterBench
{
    /// <summary>
    /// One timed job: wall time from the call to its return; denoising wall time and process CPU time per step (CPU
    /// time, the work done, is what a loaded machine disturbs least); its PNG.
    /// </summary>
    public sealed record JobTiming(double JobMs, double StepMs, double StepCpuMs, [property: JsonIgnore] byte[] Png);

    /// <summary>One run of the overhead comparison: the same job (prompt, seed) on both paths.</summary>
    public sealed record OverheadRun(int Run, JobTiming Local, JobTiming Cluster)
    {
        public bool SamePng => Local.Png.AsSpan().SequenceEqual(Cluster.Png);
    }

    /// <summary>The same queued jobs on one layout: how long until the last one ended.</summary>
    public sealed record ThroughputRun(string Layout, string Placement, int Jobs, int InFlight, double WallSeconds)
    {
        public double JobsPerMinute => Jobs / (WallSeconds / 60);
    }

    /// <summary>
    /// The same jobs (<paramref name="job"/>(run)) through the one-process pipeline and through the one silo of
    /// <paramref name="config"/>, on the same device with the same session options, in turns (each path first every
    /// other run, so both see the same machine load and warmth); the first <paramref name="warmup"/> runs untimed.
    /// </summary>
    public static async Task<List<OverheadRun>> OverheadAsync(Sd3ModelFolder folder, ClusterConfig config, OnnxModelOptions sessions,
        Func<int, GenerationSpec> job, int warmup, int runs, Action step, CancellationToken ct)
    {
        await using var silo = await EmbeddedSilo.StartAsync(folder, config, sessions, ct);
        using var local = OnnxSd3Model.Open(folder.Repository.Directory, silo.Device, sessions);
        var pipeline = new Sd3Pipeline(local.Components, new Sd3PipelineOptions { CacheEntries = 0 });
        var executor = silo.Host.Services.GetRequiredService<IJobExecutor>();
        var timed = new List<OverheadRun>();
        for (int run = 0; run < warmup + runs; run++)
        {
            var spec = job(run);
            JobTiming a, b;
            if (run % 2 == 0)
            {
                a = await LocalAsync(pipeline, spec, ct);
                b = await ClusterAsync(executor, spec, ct);
            }
            else
            {
                b = await ClusterAsync(executor, spec, ct);
                a = await LocalAsync(pipeline, spec, ct);
            }
            step();
            step();
            if (run >= warmup) timed.Add(new OverheadRun(run - warmup + 1, a, b));
        }
        return timed;
    }

    /// <summary>
    /// One warm-up job (every grain loads its sessions), then <paramref name="jobs"/> jobs queued at once on the silo
    /// of <paramref name="config"/>, which runs its jobs.max_in_flight at a time: the wall time until the last ended.
    /// </summary>
    public static async Task<ThroughputRun> ThroughputAsync(Sd3ModelFolder folder, ClusterConfig config, OnnxModelOptions sessions, string layout,
        string placement, Func<int, (GenerationSpec, GenerateRequest)> job, int jobs, Action step, CancellationToken ct)
    {
        await using var silo = await EmbeddedSilo.StartAsync(folder, config, sessions, ct);
        await RunQueuedAsync(silo.Host.Jobs, [job(0)], step, ct);
        long start = Stopwatch.GetTimestamp();
        await RunQueuedAsync(silo.Host.Jobs, Enumerable.Range(1, jobs).Select(job), step, ct);
        return new ThroughputRun(layout, placement, jobs, config.Jobs.MaxInFlight, Stopwatch.GetElapsedTime(start).TotalSeconds);
    }

    /// <summary>
    /// The job through the one-process pipeline, timed by its own progress events; the job's time includes encoding its
    /// PNG, as the cluster path's does (its coordinator returns PNG bytes).
    /// </summary>
    public static async Task<JobTiming> LocalAsync(Sd3Pipeline pipeline, GenerationSpec spec, CancellationToken ct)
    {
        var clock = new StepClock();
        long start = Stopwatch.GetTimestamp();
        var result = await pipeline.GenerateAsync(spec.Request, p =>
        {
            if (p.Kind == ProgressKind.StageStarted) clock.StageStarted(p.Stage);
            else if (p.Kind == ProgressKind.Step) clock.StepCompleted(p.Step, p.TotalSteps);
        }, ct);
        var png = Runtime.Jobs.JobOutputs.From(result, spec.Request)[0].Data;
        double jobMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        return clock.Timing(jobMs, spec.DenoisingSteps, png);
    }

    /// <summary>
    /// The job through the grain runtime as the server runs it (<see cref="ClusterJobExecutor"/>: a coordinator grain
    /// drives the transformer grain step by step), timed by the progress its coordinator relays.
    /// </summary>
    public static async Task<JobTiming> ClusterAsync(IJobExecutor executor, GenerationSpec spec, CancellationToken ct)
    {
        var clock = new StepClock();
        long start = Stopwatch.GetTimestamp();
        var images = await executor.ExecuteAsync(spec, clock, ct);
        double jobMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        // The executor returns once its coordinator has delivered every progress event.
        return clock.Timing(jobMs, spec.DenoisingSteps, images[0].Data);
    }

    /// <summary>Queues every job at once on <paramref name="scheduler"/> and waits until each has ended (a failed one throws).</summary>
    private static async Task RunQueuedAsync(JobScheduler scheduler, IEnumerable<(GenerationSpec Spec, GenerateRequest Request)> jobs, Action ended,
        CancellationToken ct)
    {
        var queued = jobs.Select(j => scheduler.Submit(j.Spec, j.Request)).ToList();
        await Task.WhenAll(queued.Select(async job =>
        {
            await foreach (var _ in job.Events.ReadAsync(0, ct)) { }
            if (job.State != JobState.Succeeded)
                throw new InvalidOperationException($"job {job.Id} ended {job.State}" + (job.Error is { } e ? $": {e.Message} (status {e.Code})" : ""));
            ended();
        }));
    }

    /// <summary>
    /// Denoising time from a job's progress: from the start of the Denoise stage to the last step's event, over the
    /// steps. Both paths report the same events (the cluster's relayed by its coordinator, in order).
    /// </summary>
    private sealed class StepClock : IJobProgress
    {
        private (long Wall, TimeSpan Cpu)? _denoiseStarted, _lastStep;

        /// <summary>An id of its own per job (its coordinator grain's key).</summary>
        public string JobId { get; } = "bench-" + Guid.NewGuid().ToString("N");

        /// <summary>The job's timeline is not what this clock times.</summary>
        public void SpansRecorded(IReadOnlyList<Runtime.Tracing.TraceSpan> spans)
        {
        }

        public void StageStarted(PipelineStage stage)
        {
            if (stage == PipelineStage.Denoise) _denoiseStarted = Now();
        }

        public void StepCompleted(int step, int totalSteps, JobPreview? preview = null, Tensors.Tensor? checkpoint = null)
        {
            if (step == totalSteps) _lastStep = Now();
        }

        public JobTiming Timing(double jobMs, int steps, byte[] png)
        {
            if (_denoiseStarted is not { } start || _lastStep is not { } end)
                throw new InvalidOperationException("the job reported no Denoise stage or no last step");
            return new JobTiming(jobMs, Stopwatch.GetElapsedTime(start.Wall, end.Wall).TotalMilliseconds / steps,
                (end.Cpu - start.Cpu).TotalMilliseconds / steps, png);
        }

        private static (long, TimeSpan) Now() => (Stopwatch.GetTimestamp(), Environment.CpuUsage.TotalTime);
    }
}
