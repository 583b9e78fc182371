using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using E = Sd3Mesh.Protos.V1.JobEvent.EventOneofCase;

namespace Sd3Mesh.Cli.Tests.Soak;

/// <summary>A silo killed during the soak: when (soak clock, and UTC to compare with the server's event times) and how many jobs had ended.</summary>
public sealed record SoakKill(string Silo, string Incarnation, TimeSpan At, DateTime AtUtc, int EndedBefore);

/// <summary>A silo run's resident set at one moment, with the jobs ended by then.</summary>
public sealed record MemorySample(string Incarnation, TimeSpan At, int Ended, long Bytes, long AnonymousBytes, bool End = false);

/// <summary>What the soak saw: its jobs, the kills, memory over time, and the report made of them.</summary>
public sealed class SoakRun
{
    private readonly Stopwatch _clock;
    private readonly ConcurrentQueue<MemorySample> _samples = new();
    private readonly ConcurrentQueue<SoakKill> _kills = new();
    private int _ended;

    public SoakRun(int total, int clients, int window, Stopwatch clock)
    {
        Window = window;
        _clock = clock;
        Total = total;
        Clients = clients;
        // Job i goes to client i % clients: every client has its share, in order.
        Jobs = [.. Enumerable.Range(0, total).Select(i => new SoakJob(i % clients, i / clients, SoakCluster.Steps))];
    }

    public int Total { get; }
    public int Clients { get; }
    /// <summary>Jobs a client has running or waiting at once.</summary>
    public int Window { get; }
    public IReadOnlyList<SoakJob> Jobs { get; }
    public ConcurrentQueue<TimeSpan> Answers { get; } = new();
    public IReadOnlyList<SoakKill> Kills => [.. _kills];
    public int EndedCount => Volatile.Read(ref _ended);

    public void Ended(SoakJob job) => Interlocked.Increment(ref _ended);

    private volatile TaskCompletionSource? _hold;
    private TimeSpan _heldSince;

    /// <summary>How long new jobs were held back (<see cref="Hold"/>) in all.</summary>
    public TimeSpan Held { get; private set; }

    /// <summary>Waits while new jobs are held back; a job's first Submit waits here, its retries do not.</summary>
    public Task MayStartAsync(CancellationToken cancellationToken) => _hold?.Task.WaitAsync(cancellationToken) ?? Task.CompletedTask;

    /// <summary>Holds back new jobs (those submitted already go on), so that a fault is not overtaken by the jobs' progress.</summary>
    public void Hold()
    {
        if (_hold is not null) return;
        _heldSince = _clock.Elapsed;
        _hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public void Release()
    {
        if (_hold is not { } hold) return;
        Held += _clock.Elapsed - _heldSince;
        _hold = null;
        hold.SetResult();
    }

    public async Task ReachedAsync(int ended, CancellationToken cancellationToken)
    {
        while (EndedCount < ended) await Task.Delay(20, cancellationToken);
    }

    /// <summary>
    /// Waits until a client has seen a job that has not ended go past its first checkpoint (a step event at or beyond
    /// <paramref name="checkpointEvery"/>): the primary, killed then, takes a job down mid-run, which must resume.
    /// </summary>
    public async Task PastACheckpointAsync(int checkpointEvery, CancellationToken cancellationToken)
    {
        while (!Jobs.Any(j => !j.Ended && j.Last is { EventCase: E.Step } e && e.Step.Step >= checkpointEvery))
            await Task.Delay(2, cancellationToken);
    }

    public void Killed(SiloIncarnation incarnation) =>
        _kills.Enqueue(new SoakKill(incarnation.Silo, incarnation.Name, incarnation.KilledAt!.Value, DateTime.UtcNow, EndedCount));

    /// <summary>Every silo run's resident set twice a second until cancelled.</summary>
    public async Task SampleMemoryAsync(SiloProcesses silos, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            TakeSamples(silos, end: false);
            try { await Task.Delay(500, cancellationToken); }
            catch (OperationCanceledException) { return; }
        }
    }

    public void TakeEndSamples(SiloProcesses silos) => TakeSamples(silos, end: true);

    private void TakeSamples(SiloProcesses silos, bool end)
    {
        foreach (var run in silos.All.Where(r => r.KilledAt is null))
            if (SiloProcesses.ResidentBytes(run.Process.Id) is { } bytes)
                _samples.Enqueue(new MemorySample(run.Name, _clock.Elapsed, EndedCount, bytes.Resident, bytes.Anonymous, end));
    }

    /// <summary>
    /// A silo run's baseline (its first sample once <paramref name="warmUp"/> jobs have ended since it started, and for
    /// the worker since the latest start of the primary during its life), its peak, and its end sample (idle at the end;
    /// none for a run that was killed).
    /// </summary>
    public (MemorySample? Baseline, long? Peak, MemorySample? End) Memory(SiloIncarnation run, IReadOnlyList<SiloIncarnation> all, int warmUp)
    {
        var mine = _samples.Where(s => s.Incarnation == run.Name).OrderBy(s => s.At).ToList();
        int EndedAt(TimeSpan at) => mine.FirstOrDefault(s => s.At >= at)?.Ended ?? int.MaxValue;
        var starts = new List<TimeSpan> { run.ReadyAt };
        // The primary places the worker's grains: after a restart of the primary, the worker's warm-up begins again.
        if (run.Silo != SoakCluster.Primary)
            starts.AddRange(all.Where(p => p.Silo == SoakCluster.Primary && p.ReadyAt > run.ReadyAt && (run.KilledAt is null || p.ReadyAt < run.KilledAt))
                .Select(p => p.ReadyAt));
        int from = starts.Select(EndedAt).Max();
        var baseline = from == int.MaxValue ? null : mine.FirstOrDefault(s => !s.End && s.Ended >= from + warmUp);
        return (baseline, mine.Count == 0 ? null : mine.Max(s => s.Bytes), mine.LastOrDefault(s => s.End));
    }

    /// <summary>The figures as JSON: throughput, latency, recovery after each kill, memory per silo run, counts.</summary>
    public string Report(TimeSpan start, TimeSpan end, SiloProcesses silos, List<(SoakJob Job, string Why, bool Equal)> references,
        IReadOnlyDictionary<string, string> grains, int warmUp)
    {
        var latencies = Jobs.Where(j => j.Latency is not null).Select(j => j.Latency!.Value.TotalSeconds).Order().ToList();
        double Percentile(double p) => latencies.Count == 0 ? double.NaN : latencies[Math.Max(0, (int)Math.Ceiling(p * latencies.Count) - 1)];
        var wall = end - start;
        var kills = new JsonArray();
        foreach (var kill in Kills)
        {
            // The first job to end after the kill, by the server's own time of its final event; and the first to end of
            // those that began encoding after it (they needed the killed silo's grains, or the restarted primary).
            var ended = Jobs.Where(j => j.Final is { } f && f.Time.ToDateTime() > kill.AtUtc).ToList();
            var next = ended.MinBy(j => j.Final!.Time.ToDateTime());
            var nextEncoded = ended.Where(j => j.Log.Any(e => e.StageStarted?.Stage == Protos.V1.Stage.Encode && e.Time.ToDateTime() > kill.AtUtc))
                .MinBy(j => j.Final!.Time.ToDateTime());
            var restarted = silos.All.FirstOrDefault(r => r.Silo == kill.Silo && r.StartedAt >= kill.At);
            // The primary answering again: the first answer once its new run had started (one in flight at the kill may land just after it).
            var answer = restarted is null ? TimeSpan.MaxValue : Answers.Where(a => a > restarted.StartedAt).DefaultIfEmpty(TimeSpan.MaxValue).Min();
            kills.Add(new JsonObject
            {
                ["silo"] = kill.Incarnation,
                ["at_jobs_ended"] = kill.EndedBefore,
                ["at_s"] = Seconds(kill.At - start),
                ["next_job_ended_after_s"] = next is null ? null : Seconds(next.Final!.Time.ToDateTime() - kill.AtUtc),
                ["first_job_encoded_after_the_kill_ended_after_s"] = nextEncoded is null ? null : Seconds(nextEncoded.Final!.Time.ToDateTime() - kill.AtUtc),
                ["restarted_after_s"] = restarted is null ? null : Seconds(restarted.StartedAt - kill.At),
                ["restart_to_ready_s"] = restarted is null ? null : Seconds(restarted.ReadyAt - restarted.StartedAt),
                ["first_api_answer_after_s"] = kill.Silo == SoakCluster.Primary && answer != TimeSpan.MaxValue ? Seconds(answer - kill.At) : null,
            });
        }
        var memory = new JsonArray();
        foreach (var run in silos.All)
        {
            var (baseline, peak, last) = Memory(run, silos.All, warmUp);
            memory.Add(new JsonObject
            {
                ["silo"] = run.Name,
                ["killed"] = run.KilledAt is not null,
                ["baseline_mib"] = Mib(baseline?.Bytes),
                ["baseline_at_jobs_ended"] = baseline?.Ended,
                ["peak_mib"] = Mib(peak),
                ["end_idle_mib"] = Mib(last?.Bytes),
                ["end_minus_baseline_mib"] = baseline is not null && last is not null ? Mib(last.Bytes - baseline.Bytes) : null,
                // [jobs ended, MiB resident, MiB of it anonymous] at each twentieth of the jobs: a leak grows with them, a heap settling does not.
                ["by_jobs_ended"] = new JsonArray([.. _samples.Where(m => m.Incarnation == run.Name && !m.End)
                    .GroupBy(m => m.Ended * 20 / Total).Select(g => (JsonNode)new JsonArray(g.First().Ended, Mib(g.First().Bytes), Mib(g.First().AnonymousBytes)))]),
            });
        }
        var counts = Jobs.GroupBy(j => j.Final?.EventCase.ToString() ?? "none").ToDictionary(g => g.Key, g => g.Count());
        var report = new JsonObject
        {
            ["machine"] = $"{Environment.ProcessorCount} cores, load average {File.ReadAllText("/proc/loadavg").Trim()} at the end",
            ["jobs"] = Total,
            ["clients"] = Clients,
            ["window_per_client"] = Window,
            ["steps"] = SoakCluster.Steps,
            ["wall_s"] = Seconds(wall),
            ["jobs_per_min"] = Math.Round(Jobs.Count(j => j.Final is not null) / wall.TotalMinutes, 1),
            ["latency_p50_s"] = Math.Round(Percentile(0.50), 2),
            ["latency_p99_s"] = Math.Round(Percentile(0.99), 2),
            ["latency_max_s"] = Math.Round(latencies.LastOrDefault(), 2),
            ["finished"] = counts.GetValueOrDefault(nameof(E.Finished)),
            ["failed"] = counts.GetValueOrDefault(nameof(E.Failed)),
            ["cancelled"] = counts.GetValueOrDefault(nameof(E.Cancelled)),
            ["without_final_event"] = counts.GetValueOrDefault("none"),
            ["ran_across_primary_restart"] = Jobs.Count(j => j.RanAcrossRestart),
            ["resumed_on_the_fallback"] = Jobs.Count(j => j.ResumedOnFallback),
            ["submits"] = Jobs.Sum(j => j.Submits),
            ["watches"] = Jobs.Sum(j => j.Watches),
            ["pushbacks"] = Jobs.Sum(j => j.Pushbacks),
            ["retries"] = Jobs.Sum(j => j.Retries),
            ["new_jobs_held_back_s"] = Seconds(Held),
            ["kills"] = kills,
            ["memory"] = memory,
            ["grains_at_the_end"] = new JsonObject([.. grains.Select(g => KeyValuePair.Create(g.Key, (JsonNode?)g.Value))]),
            ["png_checks"] = new JsonArray([.. references.Select(r => (JsonNode)new JsonObject
            {
                ["request_id"] = r.Job.RequestId, ["why"] = r.Why, ["equal_to_one_process_png"] = r.Equal,
            })]),
        };
        return report.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static double Seconds(TimeSpan t) => Math.Round(t.TotalSeconds, 2);
    private static double? Mib(long? bytes) => bytes is null ? null : Math.Round(bytes.Value / 1048576.0, 1);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{EndedCount}/{Total} ended");
}
