using System.Collections.Concurrent;
using System.Diagnostics;

namespace Sd3Mesh.Pipeline;

/// <summary>
/// Wall time and call count per named stage (tokenize, text_encoder, transformer, vae_decoder, ...),
/// accumulated across a job; thread-safe so parallel encoders can record at once.
/// </summary>
public sealed class StageTimings
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _order = new();

    public sealed class Entry
    {
        private long _ticks;
        private int _calls;
        public TimeSpan Total => TimeSpan.FromTicks(Interlocked.Read(ref _ticks));
        public int Calls => Volatile.Read(ref _calls);
        internal void Add(TimeSpan t) { Interlocked.Add(ref _ticks, t.Ticks); Interlocked.Increment(ref _calls); }
    }

    /// <summary>Stages in the order they were first recorded.</summary>
    public IReadOnlyList<(string Stage, TimeSpan Total, int Calls)> Snapshot() =>
        _order.Distinct().Select(s => (s, _entries[s].Total, _entries[s].Calls)).ToList();

    public TimeSpan this[string stage] => _entries.TryGetValue(stage, out var e) ? e.Total : TimeSpan.Zero;

    public int Calls(string stage) => _entries.TryGetValue(stage, out var e) ? e.Calls : 0;

    public void Add(string stage, TimeSpan elapsed)
    {
        var entry = _entries.GetOrAdd(stage, s => { _order.Enqueue(s); return new Entry(); });
        entry.Add(elapsed);
    }

    public async Task<T> MeasureAsync<T>(string stage, Func<Task<T>> action)
    {
        long start = Stopwatch.GetTimestamp();
        try { return await action().ConfigureAwait(false); }
        finally { Add(stage, Stopwatch.GetElapsedTime(start)); }
    }

    public T Measure<T>(string stage, Func<T> action)
    {
        long start = Stopwatch.GetTimestamp();
        try { return action(); }
        finally { Add(stage, Stopwatch.GetElapsedTime(start)); }
    }
}
