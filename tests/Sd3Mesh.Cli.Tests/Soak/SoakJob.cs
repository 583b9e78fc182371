using Sd3Mesh.Protos.V1;
using E = Sd3Mesh.Protos.V1.JobEvent.EventOneofCase;
using PipelineRequest = Sd3Mesh.Pipeline.GenerationRequest;

namespace Sd3Mesh.Cli.Tests.Soak;

/// <summary>One job of the soak as its client sees it: the request, every job id the server answered for its request id, and how it ended.</summary>
public sealed class SoakJob(int clientIndex, int index, uint steps)
{
    public string Client { get; } = $"soak-client-{clientIndex}";
    public string RequestId { get; } = $"soak-{clientIndex}-{index:D3}";
    public string Prompt { get; } = $"soak client {clientIndex} job {index}: a lighthouse at dusk";
    public ulong Seed { get; } = (ulong)(1000 * clientIndex + index);

    public GenerateRequest Wire => new()
    {
        Prompt = Prompt, Width = 64, Height = 64, Steps = steps, Seed = Seed, MaxSequenceLength = 128, RequestId = RequestId,
    };

    /// <summary>The same request for the one-process pipeline (the reference image).</summary>
    public PipelineRequest Local => new() { Prompt = Prompt, Width = 64, Height = 64, Steps = (int)steps, Seeds = [Seed], MaxSequenceLength = 128 };

    private readonly object _gate = new();
    private readonly List<string> _jobIds = [];

    /// <summary>Every job id a Submit of this request answered, in order (idempotent Submit: all the same).</summary>
    public IReadOnlyList<string> JobIds { get { lock (_gate) return [.. _jobIds]; } }
    public void Answered(string jobId) { lock (_gate) _jobIds.Add(jobId); }

    /// <summary>Soak clock at the first Submit, and at the final event's arrival.</summary>
    public TimeSpan? SubmittedAt { get; set; }
    public TimeSpan? EndedAt { get; set; }
    /// <summary>The final event (finished, failed or cancelled); null while none arrived.</summary>
    public JobEvent? Final { get; set; }
    /// <summary>The job's whole event log as the last Watch replayed it.</summary>
    public IReadOnlyList<JobEvent> Log { get; set; } = [];
    /// <summary>The last event any Watch of it gave (where it stood).</summary>
    public JobEvent? Last { get; set; }
    /// <summary>An answer the client does not retry (a lost job, a bad request): the job ends for the client without a final event.</summary>
    public string? ClientError { get; set; }

    public int Submits, Watches, Pushbacks, Retries;
    public string? LastRetryReason { get; set; }

    public bool Ended => Final is not null || ClientError is not null;
    public TimeSpan? Latency => EndedAt - SubmittedAt;

    /// <summary>Its log has a queued event after a stage had started: it was running (or between stages) when the primary went down, and ran on after its restart.</summary>
    public bool RanAcrossRestart
    {
        get
        {
            int started = Log.ToList().FindIndex(e => e.EventCase is E.StageStarted or E.Step);
            return started >= 0 && Log.Skip(started).Any(e => e.EventCase == E.Queued);
        }
    }

    /// <summary>
    /// Its log has denoising started twice within one run (no queued event between): its coordinator was lost with the
    /// worker silo, and a new one on the fallback went on with it.
    /// </summary>
    public bool ResumedOnFallback
    {
        get
        {
            var log = Log.ToList();
            int lastQueued = log.FindLastIndex(e => e.EventCase == E.Queued);
            return log.Skip(lastQueued + 1).Count(e => e.EventCase == E.StageStarted && e.StageStarted.Stage == Stage.Denoise) > 1
                || log.Take(Math.Max(lastQueued, 0)).Count(e => e.EventCase == E.StageStarted && e.StageStarted.Stage == Stage.Denoise) > 1;
        }
    }

    public string Where => Final is { } f ? LocalClusterTests.Describe(f)
        : ClientError ?? $"{(Last is null ? "no event" : "last event: " + LocalClusterTests.Describe(Last))}; {Submits} submits, {Watches} watches, " +
                         $"{Pushbacks} pushbacks, {Retries} retries (last: {LastRetryReason ?? "none"})";

    public override string ToString() => $"{RequestId} -> [{string.Join(", ", JobIds.Distinct())}]: {Where}";
}
