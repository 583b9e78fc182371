using System.Diagnostics;
using System.Diagnostics.Metrics;
using Sd3Mesh.Protos.V1;

namespace Sd3Mesh.Server.Jobs;

/// <summary>
/// The job service's instruments (meter <see cref="MeterName"/>): jobs now queued and running, jobs ended by state,
/// and how long ended jobs ran. Recorded by the jobs themselves as they change state (<see cref="Job"/>), so every path
/// to an end (finished, failed, cancelled while queued or running, the server stopping) is counted once.
/// </summary>
public sealed class JobMetrics
{
    public const string MeterName = "Sd3Mesh.Server";

    private readonly UpDownCounter<int> _active;
    private readonly Counter<long> _ended;
    private readonly Histogram<double> _duration;
    private readonly string _silo;

    public JobMetrics(IMeterFactory factory, string silo)
    {
        _silo = silo;
        var meter = factory.Create(MeterName);
        _active = meter.CreateUpDownCounter<int>("sd3mesh.jobs", "{job}", "Jobs queued or running now, by state");
        _ended = meter.CreateCounter<long>("sd3mesh.jobs.ended", "{job}", "Jobs that ended, by state (succeeded, failed, cancelled)");
        _duration = meter.CreateHistogram("sd3mesh.job.duration", "s", "Ended jobs' running time (start to end; jobs cancelled while queued have none)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = Runtime.Metrics.RuntimeMetrics.SecondsBuckets });
    }

    internal void Changed(JobState from, JobState to, TimeSpan? ran)
    {
        if (from is JobState.Queued or JobState.Running) _active.Add(-1, Tags(from));
        if (to is JobState.Queued or JobState.Running)
        {
            _active.Add(1, Tags(to));
            return;
        }
        var tags = Tags(to);
        _ended.Add(1, tags);
        if (ran is { } t) _duration.Record(t.TotalSeconds, tags);
    }

    private TagList Tags(JobState state) => new() { { "state", Name(state) }, { "silo", _silo } };

    /// <summary>The state as metrics and the dashboard name it: queued, running, succeeded, failed, cancelled.</summary>
    public static string Name(JobState state) => state switch
    {
        JobState.Queued => "queued",
        JobState.Running => "running",
        JobState.Succeeded => "succeeded",
        JobState.Failed => "failed",
        JobState.Cancelled => "cancelled",
        _ => "unspecified",
    };
}
