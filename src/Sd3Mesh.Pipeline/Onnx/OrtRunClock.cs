using System.Collections.Concurrent;

namespace Sd3Mesh.Pipeline.Onnx;

/// <summary>
/// Time spent inside ONNX Runtime per submodule: session creation ("load") and Run calls ("run"), so a
/// benchmark can tell model time from the pipeline's own overhead. Thread-safe.
/// </summary>
public sealed class OrtRunClock
{
    private readonly ConcurrentDictionary<string, long> _run = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _load = new(StringComparer.Ordinal);

    public void AddRun(string submodule, TimeSpan elapsed) => _run.AddOrUpdate(submodule, elapsed.Ticks, (_, t) => t + elapsed.Ticks);
    public void AddLoad(string submodule, TimeSpan elapsed) => _load.AddOrUpdate(submodule, elapsed.Ticks, (_, t) => t + elapsed.Ticks);

    public TimeSpan Run(string submodule) => TimeSpan.FromTicks(_run.GetValueOrDefault(submodule));
    public TimeSpan Load(string submodule) => TimeSpan.FromTicks(_load.GetValueOrDefault(submodule));
    public TimeSpan TotalRun => TimeSpan.FromTicks(_run.Values.Sum());
    public TimeSpan TotalLoad => TimeSpan.FromTicks(_load.Values.Sum());

    public void Reset()
    {
        _run.Clear();
        _load.Clear();
    }
}
