using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Jobs;
using Job = Sd3Mesh.Server.Jobs.Job;

namespace Sd3Mesh.Server.Dashboard;

/// <summary>Jobs as the dashboard shows them (see <see cref="JobView"/>).</summary>
public static class JobViews
{
    /// <summary>Ended jobs listed after the queued and running ones.</summary>
    public const int RecentEnded = 30;

    /// <summary>Every queued and running job (oldest first), then the <see cref="RecentEnded"/> newest ended ones.</summary>
    public static IReadOnlyList<JobView> List(JobStore store)
    {
        var active = store.List(long.MaxValue, store.MaxJobs, new HashSet<JobState> { JobState.Queued, JobState.Running });
        var ended = store.List(long.MaxValue, RecentEnded, new HashSet<JobState> { JobState.Succeeded, JobState.Failed, JobState.Cancelled });
        return [.. active.Reverse().Concat(ended).Select(Of)];
    }

    public static JobView Of(Job job)
    {
        // A job read back from a durable store has its request, not its spec, at hand (making the spec reads the store):
        // what the spec resolved (seeds, size, steps) then comes from its results and progress.
        var spec = job.KnownSpec;
        var request = job.Request;
        var first = job.Images.FirstOrDefault()?.Image;
        IReadOnlyList<ulong> seeds = spec?.Seeds ?? (job.Images.Count > 0 ? [.. job.Images.Select(i => i.Image.Seed)]
            : request.Seeds.Count > 0 ? [.. request.Seeds] : request.HasSeed ? [request.Seed] : []);
        int width = spec?.Request.Width ?? first?.Width ?? (int)request.Width;
        int height = spec?.Request.Height ?? first?.Height ?? (int)request.Height;
        int steps = spec?.DenoisingSteps ?? (job.TotalSteps > 0 ? job.TotalSteps : (int)request.Steps);
        int step = job.Step, total = job.TotalSteps;
        double? stepSeconds = step > 0 && job.DenoiseStartedAt is { } began && job.LastStepAt is { } last ? (last - began).TotalSeconds / step : null;
        var preview = job.LatestPreview;
        var error = job.Error is { } e ? new JobErrorView(e.Code, ((global::Grpc.Core.StatusCode)e.Code).ToString(), e.Message) : null;
        string? cancelReason = job.State == JobState.Cancelled ? job.Events.Last?.Cancelled?.Reason : null;
        string api = $"/api/jobs/{job.Id}";
        return new JobView(job.Id, JobMetrics.Name(job.State), request.Prompt, request.NegativePrompt, seeds, width, height, steps,
            StageName(job.Stage), step, total, job.QueuePosition, job.CreatedAt, job.StartedAt, job.FinishedAt,
            job.LastStepAt, stepSeconds, stepSeconds is { } s && job.State == JobState.Running ? (total - step) * s : null,
            preview?.Step, preview is { } p ? $"{api}/preview.png?step={p.Step}" : null,
            // An image dropped from memory stays downloadable while a durable store has its file.
            [.. job.Images.Select(i => new ImageView(i.Id, $"/api/images/{i.Id}", i.Image.MediaType, i.Image.Width, i.Image.Height, i.Image.Seed,
                i.SizeBytes, job.ImagesEvicted && i.File is null))],
            error, cancelReason, job.Timeline.Count, $"{api}/timeline", $"{api}/trace.json");
    }

    /// <summary>An API stage as the page names it: tokenize, encode, denoise, decode ("" before the first).</summary>
    public static string StageName(Stage stage) => stage switch
    {
        Stage.Tokenize => "tokenize",
        Stage.Encode => "encode",
        Stage.Denoise => "denoise",
        Stage.Decode => "decode",
        _ => "",
    };
}
