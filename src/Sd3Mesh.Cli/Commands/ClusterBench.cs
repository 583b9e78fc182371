using System.Diagnostics;
using System.Text.Json.Serialization;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Protos.V1;
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

    /// <summary>The job through the one-process pipeline, timed by its own progress events.</summary>
    public static async Task<JobTiming> LocalAsync(Sd3Pipeline pipeline, GenerationSpec spec, CancellationToken ct)
    {
        var clock = new StepClock();
        long start = Stopwatch.GetTimestamp();
        var result = await pipeline.GenerateAsync(spec.Request, p =>
        {
            if (p.Kind == ProgressKind.StageStarted) clock.StageStarted(p.Stage);
            else if (p.Kind == ProgressKind.Step) clock.StepCompleted(p.Step, p.TotalSteps);
        }, ct);
        double jobMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        return clock.Timing(jobMs, spec.DenoisingSteps, result.Images[0].ToPng());
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
    public static async Task RunQueuedAsync(JobScheduler scheduler, IEnumerable<(GenerationSpec Spec, GenerateRequest Request)> jobs, Action ended,
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

        public void StageStarted(PipelineStage stage)
        {
            if (stage == PipelineStage.Denoise) _denoiseStarted = Now();
        }

        public void StepCompleted(int step, int totalSteps, JobPreview? preview = null)
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
