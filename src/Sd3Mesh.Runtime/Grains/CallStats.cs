namespace Sd3Mesh.Runtime.Grains;

/// <summary>A grain's calls: count, mean and p95 latency over the last <see cref="Window"/> calls, last error. Thread-safe.</summary>
public sealed class CallStats
{
    public const int Window = 1000;
    private readonly double[] _recent = new double[Window];
    private readonly object _gate = new();
    private long _calls;
    private double _totalMs;

    public string? LastError { get; private set; }
    public DateTime? LastCall { get; private set; }

    public void Record(TimeSpan elapsed, Exception? error = null)
    {
        lock (_gate)
        {
            _recent[_calls % Window] = elapsed.TotalMilliseconds;
            _calls++;
            _totalMs += elapsed.TotalMilliseconds;
            LastCall = DateTime.UtcNow;
            if (error is not null and not OperationCanceledException) LastError = $"{error.GetType().Name}: {error.Message}";
        }
    }

    public (long Calls, double MeanMs, double P95Ms) Snapshot()
    {
        lock (_gate)
        {
            if (_calls == 0) return (0, 0, 0);
            var window = _recent.Take((int)Math.Min(_calls, Window)).Order().ToArray();
            return (_calls, _totalMs / _calls, window[(int)Math.Ceiling(0.95 * window.Length) - 1]);
        }
    }
}
