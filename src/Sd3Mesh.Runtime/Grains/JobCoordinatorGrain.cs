using Sd3Mesh.Pipeline;
using Sd3Mesh.Runtime.Catalog;
using Sd3Mesh.Runtime.Jobs;
using Sd3Mesh.Runtime.Metrics;
using Sd3Mesh.Runtime.Placement;
using Sd3Mesh.Runtime.Tracing;

namespace Sd3Mesh.Runtime.Grains;

/// <summary>
/// Runs one job (key job/ID@DEVICE, placed with the transformer it drives): the SD3 pipeline, read top to bottom in
/// Sd3Pipeline.cs, over grain stages. Progress goes to the job's observer on the primary silo as it happens, with the
/// timeline's spans recorded since the previous event (stages here, stage calls, tensor fetches) and the latents every
/// checkpoint interval (the primary's job store keeps them to resume the job after a crash); at the end, the spans the
/// other silos recorded for the job follow. The outputs come back as the call's result. The activation goes away when
/// the job ends.
/// </summary>
[DevicePlacement]
public sealed class JobCoordinatorGrain(CoordinatorPipelines pipelines, JobTraces traces, RuntimeMetrics metrics, ModelCatalog catalog,
    IClusterMembershipService membership) : Grain, IJobCoordinatorGrain
{
    /// <summary>How long the job's end waits for another silo's spans; a silo that does not answer leaves them out.</summary>
    public static readonly TimeSpan TraceTimeout = TimeSpan.FromSeconds(2);

    public async Task<JobOutput[]> Run(JobRequest job, IJobObserver observer, CancellationToken cancellationToken = default)
    {
        var relay = new ProgressRelay(observer);
        var trace = traces.Open(job.JobId);
        try
        {
            var device = DeviceKey.Parse(this.GetPrimaryKeyString()).Device;
            string lane = $"coordinator@{device}";
            var pipeline = pipelines.For(device);
            Pipeline.Vae.LatentPreview? preview = null;
            if (job.PreviewInterval > 0)
            {
                // The preview's map is fitted once per silo, by the first job that asks (VAE decodes of its own).
                long fitting = System.Diagnostics.Stopwatch.GetTimestamp();
                bool fitted = pipelines.PreviewFitted;
                preview = await pipelines.PreviewAsync(pipeline, cancellationToken);
                if (!fitted) trace.Add(TraceSpan.EndingNow(lane, traces.Silo, SpanKind.Stage, "fit_preview", System.Diagnostics.Stopwatch.GetElapsedTime(fitting)));
            }
            var result = await pipeline.GenerateAsync(job.Request, p =>
            {
                switch (p.Kind)
                {
                    case ProgressKind.StageStarted:
                        relay.Post(new JobProgress(p.Stage) { Spans = trace.Drain() });
                        break;
                    case ProgressKind.StageCompleted:
                        trace.Add(TraceSpan.EndingNow(lane, traces.Silo, SpanKind.Stage, StageName(p.Stage), p.Elapsed));
                        break;
                    case ProgressKind.Step:
                        metrics.Step(device, p.Elapsed);
                        byte[]? png = preview is not null && job.IsPreviewStep(p.Step) && p.Latents is { } latents ? preview.RenderPng(latents) : null;
                        // A copy: on the host the latents are the loop's buffer, which the next step changes before the relay sends them.
                        var checkpoint = job.IsCheckpointStep(p.Step) ? p.Latents?.Clone() : null;
                        relay.Post(new JobProgress(p.Stage, p.Step, p.TotalSteps, png,
                            png is null ? 0 : job.Request.Width / 8, png is null ? 0 : job.Request.Height / 8, checkpoint) { Spans = trace.Drain() });
                        break;
                }
            }, cancellationToken, latentsAt: step => (preview is not null && job.IsPreviewStep(step)) || job.IsCheckpointStep(step));
            await PostSpansAsync(relay, trace, job.JobId);
            await relay.CompleteAsync();
            return JobOutputs.From(result, job.Request);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A failed job's timeline shows how far it got; its progress so far reaches the primary before its failure.
            await PostSpansAsync(relay, trace, job.JobId);
            await relay.CompleteAsync();
            throw;
        }
        finally
        {
            traces.Take(job.JobId);
            relay.CompleteAsync().Ignore();
            DeactivateOnIdle();
        }
    }

    /// <summary>The spans left here and those of the other active silos (each asked once, briefly), as one last event.</summary>
    private async Task PostSpansAsync(ProgressRelay relay, JobTrace trace, string jobId)
    {
        // A silo declared dead is not asked: its trace grain could only be placed on a device nobody owns.
        var active = membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.Name).ToHashSet();
        var others = catalog.Config.Silos.Where(s => s.Name != traces.Silo && s.Devices.Count > 0 && active.Contains(s.Name)).Select(async s =>
        {
            try
            {
                return await GrainFactory.GetGrain<ISiloTraceGrain>(ISiloTraceGrain.KeyOf(s.Devices[0])).Take(jobId).WaitAsync(TraceTimeout);
            }
            catch (Exception)
            {
                return []; // its silo is gone or slow: the timeline lacks its transfers, the job goes on
            }
        });
        var remote = await Task.WhenAll(others);
        TraceSpan[] spans = [.. trace.Drain(), .. remote.SelectMany(r => r)];
        if (spans.Length > 0) relay.Post(JobProgress.Trace(spans));
    }

    /// <summary>A stage as the timeline names it: encode_prompt, denoise, decode.</summary>
    public static string StageName(PipelineStage stage) => stage switch
    {
        PipelineStage.CheckInputs => "check_inputs",
        PipelineStage.EncodePrompt => "encode_prompt",
        PipelineStage.PrepareTimesteps => "prepare_timesteps",
        PipelineStage.PrepareLatents => "prepare_latents",
        PipelineStage.Denoise => "denoise",
        PipelineStage.Decode => "decode",
        _ => "postprocess",
    };
}
