using Sd3Mesh.Runtime.Tracing;

namespace Sd3Mesh.Server.Jobs;

/// <summary>
/// A job's timeline on the primary: the spans its coordinator sent with its progress (stages, stage calls, transfers
/// between silos, the other silos' at the end). At most <see cref="MaxSpans"/>; the job store counts them in its byte
/// budget (<see cref="ApproximateBytes"/>) and drops them with the job's images.
/// </summary>
public sealed class JobTimeline
{
    public const int MaxSpans = 50_000;
    /// <summary>What a span holds in memory, roughly (the record, its strings).</summary>
    public const int BytesPerSpan = 256;

    private readonly object _gate = new();
    private readonly List<TraceSpan> _spans = [];

    public int Count { get { lock (_gate) return _spans.Count; } }
    public int Dropped { get; private set; }
    public long ApproximateBytes => (long)Count * BytesPerSpan;

    public void Add(IReadOnlyList<TraceSpan> spans)
    {
        lock (_gate)
        {
            int room = Math.Max(0, MaxSpans - _spans.Count);
            _spans.AddRange(room >= spans.Count ? spans : spans.Take(room));
            Dropped += Math.Max(0, spans.Count - room);
        }
    }

    /// <summary>The spans in start order.</summary>
    public IReadOnlyList<TraceSpan> Snapshot()
    {
        lock (_gate) return [.. _spans.OrderBy(s => s.StartMicros)];
    }

    internal void Clear()
    {
        lock (_gate) _spans.Clear();
    }
}
