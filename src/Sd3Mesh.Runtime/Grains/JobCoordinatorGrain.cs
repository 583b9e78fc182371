using Sd3Mesh.Pipeline;
using Sd3Mesh.Runtime.Jobs;
using Sd3Mesh.Runtime.Placement;

namespace Sd3Mesh.Runtime.Grains;

/// <summary>
/// Runs one job (key job/ID@DEVICE, placed with the transformer it drives): the SD3 pipeline, read top to bottom in
/// Sd3Pipeline.cs, over grain stages. Progress goes to the job's observer on the primary silo as it happens, with the
/// latents every checkpoint interval (the primary's job store keeps them to resume the job after a crash); the
/// outputs come back as the call's result. The activation goes away when the job ends.
/// </summary>
[DevicePlacement]
public sealed class JobCoordinatorGrain(CoordinatorPipelines pipelines) : Grain, IJobCoordinatorGrain
{
    public async Task<JobOutput[]> Run(JobRequest job, IJobObserver observer, CancellationToken cancellationToken = default)
    {
        var relay = new ProgressRelay(observer);
        try
        {
            var device = DeviceKey.Parse(this.GetPrimaryKeyString()).Device;
            var pipeline = pipelines.For(device);
            var preview = job.PreviewInterval > 0 ? await pipelines.PreviewAsync(pipeline, cancellationToken) : null;
            var result = await pipeline.GenerateAsync(job.Request, p =>
            {
                switch (p.Kind)
                {
                    case ProgressKind.StageStarted:
                        relay.Post(new JobProgress(p.Stage));
                        break;
                    case ProgressKind.Step:
                        byte[]? png = preview is not null && job.IsPreviewStep(p.Step) && p.Latents is { } latents ? preview.RenderPng(latents) : null;
                        // A copy: on the host the latents are the loop's buffer, which the next step changes before the relay sends them.
                        var checkpoint = job.IsCheckpointStep(p.Step) ? p.Latents?.Clone() : null;
                        relay.Post(new JobProgress(p.Stage, p.Step, p.TotalSteps, png,
                            png is null ? 0 : job.Request.Width / 8, png is null ? 0 : job.Request.Height / 8, checkpoint));
                        break;
                }
            }, cancellationToken, latentsAt: step => (preview is not null && job.IsPreviewStep(step)) || job.IsCheckpointStep(step));
            await relay.CompleteAsync();
            return JobOutputs.From(result, job.Request);
        }
        finally
        {
            relay.CompleteAsync().Ignore();
            DeactivateOnIdle();
        }
    }
}
