using System.Collections.Concurrent;

namespace Sd3Mesh.Runtime.Tracing;

/// <summary>
/// The spans this silo records for jobs, by job. The coordinator <see cref="Open"/>s its job's trace and names the job
/// in the Orleans request context, which travels with every grain call it makes; so a span recorded anywhere in the
/// job's calls (<see cref="Record"/>: a stage call, a tensor fetch inside a grain) lands in that job's trace on the
/// silo where it happened. The coordinator drains its own silo's spans into each progress event and takes the other
/// silos' at the job's end (<see cref="Grains.ISiloTraceGrain"/>). Recording is a dictionary lookup and a list append:
/// nothing a step would notice. Traces nobody takes (their coordinator died) expire.
/// </summary>
public sealed class JobTraces(string silo)
{
    /// <summary>The request-context key that names the job a call works for.</summary>
    public const string JobKey = "sd3mesh.job";
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(30);

    private readonly ConcurrentDictionary<string, JobTrace> _jobs = new(StringComparer.Ordinal);

    public string Silo { get; } = silo;

    /// <summary>The job this call works for (set by its coordinator), or null outside a job.</summary>
    public static string? CurrentJob => Orleans.Runtime.RequestContext.Get(JobKey) as string;

    /// <summary>Starts the job's trace on this silo and names the job in the calls that follow (on the coordinator).</summary>
    public JobTrace Open(string jobId)
    {
        Sweep();
        Orleans.Runtime.RequestContext.Set(JobKey, jobId);
        return _jobs.GetOrAdd(jobId, id => new JobTrace(id));
    }

    /// <summary>Adds a span to the trace of the job the current call works for; outside a job, nothing.</summary>
    public void Record(TraceSpan span)
    {
        if (CurrentJob is { } job) _jobs.GetOrAdd(job, id => new JobTrace(id)).Add(span);
    }

    /// <summary>The job's spans recorded here, and forgets the job.</summary>
    public TraceSpan[] Take(string jobId) => _jobs.TryRemove(jobId, out var trace) ? trace.Drain() : [];

    public int Count => _jobs.Count;

    private void Sweep()
    {
        var now = DateTime.UtcNow;
        foreach (var (id, trace) in _jobs)
            if (now - trace.LastAdded > Lifetime) _jobs.TryRemove(id, out _);
    }
}

/// <summary>One job's spans on one silo, until drained. At most <see cref="MaxSpans"/> are kept between drains.</summary>
public sealed class JobTrace(string jobId)
{
    public const int MaxSpans = 100_000;
    private readonly object _gate = new();
    private List<TraceSpan> _spans = [];

    public string JobId { get; } = jobId;
    public DateTime LastAdded { get; private set; } = DateTime.UtcNow;
    /// <summary>Spans dropped beyond <see cref="MaxSpans"/>.</summary>
    public int Dropped { get; private set; }

    public void Add(TraceSpan span)
    {
        lock (_gate)
        {
            LastAdded = DateTime.UtcNow;
            if (_spans.Count < MaxSpans) _spans.Add(span);
            else Dropped++;
        }
    }

    /// <summary>The spans added since the last drain (none: an empty array, no allocation).</summary>
    public TraceSpan[] Drain()
    {
        lock (_gate)
        {
            if (_spans.Count == 0) return [];
            var spans = _spans.ToArray();
            _spans.Clear();
            return spans;
        }
    }
}
