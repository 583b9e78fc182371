using System.Collections.Concurrent;

namespace Sd3Mesh.Pipeline.Onnx;

/// <summary>
/// Time spent inside ONNX Runtime per submodule: session creation ("load") and Run calls ("run"), so a
/// benchmark can tell model time from the pipeline's own overhead; also the number of Run calls and when
/// the last one ended (what the Cluster service reports per submodule). Thread-safe.
/// </summary>
public sealed class OrtRunClock
{
    private readonly ConcurrentDictionary<string, long> _run = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _load = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _calls = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTime> _lastRun = new(StringComparer.Ordinal);

    public void AddRun(string submodule, TimeSpan elapsed)
    {
        _run.AddOrUpdate(submodule, elapsed.Ticks, (_, t) => t + elapsed.Ticks);
        _calls.AddOrUpdate(submodule, 1, (_, n) => n + 1);
        _lastRun[submodule] = DateTime.UtcNow;
    }

    public void AddLoad(string submodule, TimeSpan elapsed) => _load.AddOrUpdate(submodule, elapsed.Ticks, (_, t) => t + elapsed.Ticks);

    public TimeSpan Run(string submodule) => TimeSpan.FromTicks(_run.GetValueOrDefault(submodule));
    public TimeSpan Load(string submodule) => TimeSpan.FromTicks(_load.GetValueOrDefault(submodule));
    public int Calls(string submodule) => _calls.GetValueOrDefault(submodule);
    /// <summary>When the last Run call of the submodule ended (UTC), or null before its first.</summary>
    public DateTime? LastRun(string submodule) => _lastRun.TryGetValue(submodule, out var t) ? t : null;
    public TimeSpan TotalRun => TimeSpan.FromTicks(_run.Values.Sum());
    public TimeSpan TotalLoad => TimeSpan.FromTicks(_load.Values.Sum());

    public void Reset()
    {
        _run.Clear();
        _load.Clear();
        _calls.Clear();
        _lastRun.Clear();
    }
}
