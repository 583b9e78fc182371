using System.Collections.Concurrent;
using Sd3Mesh.Onnx;

namespace Sd3Mesh.Runtime.Grains;

/// <summary>
/// The reports of the submodule grains of this silo, read without calling the grains: a call counts as use, so a view
/// that polled each grain (the dashboard, every second) would keep idle grains from being collected and their sessions
/// from being released. An active grain answers through its live report; a deactivated one leaves its last report
/// (its sessions released: offloaded) until it is activated again.
/// </summary>
public sealed class GrainReports
{
    private readonly ConcurrentDictionary<string, Func<GrainReport>> _live = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, GrainReport> _last = new(StringComparer.Ordinal);

    public void Activated(string key, Func<GrainReport> report)
    {
        _live[key] = report;
        _last.TryRemove(key, out _);
    }

    public void Deactivated(string key, GrainReport last)
    {
        _last[key] = last with { State = SessionState.Offloaded, Deactivated = true };
        _live.TryRemove(key, out _);
    }

    /// <summary>The reports of the grains on <paramref name="device"/>, active or not, by key.</summary>
    public GrainReport[] On(Device device)
    {
        string name = device.ToString();
        var live = _live.Values.Select(r => r()).Where(r => r.Device == name).ToList();
        var keys = live.Select(r => r.Key).ToHashSet(StringComparer.Ordinal);
        return [.. live.Concat(_last.Values.Where(r => r.Device == name && !keys.Contains(r.Key))).OrderBy(r => r.Key, StringComparer.Ordinal)];
    }
}
