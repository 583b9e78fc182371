using System.Text.Json;

namespace Sd3Mesh.Onnx.Diagnostics;

/// <summary>Time of one operator type in a profile: kernel calls, their summed duration, and the execution providers that ran them.</summary>
public sealed record OpTypeTime(string OpType, int Calls, TimeSpan Total, IReadOnlyList<string> Providers);

/// <summary>
/// A profile that ONNX Runtime wrote (SessionSettings.ProfilingFilePrefix, Chrome trace JSON), summed per
/// operator type: every "Node" event named "*_kernel_time" carries the op type and the provider in its args.
/// On the CPU a kernel's time is its compute time; on CUDA it is the time to launch its kernels (the GPU runs
/// them asynchronously, and the run's end waits for them), so there the totals show launch-bound steps and the
/// order of ops, and "model_run" is the time that counts.
/// </summary>
public sealed class OrtProfile
{
    private OrtProfile(IReadOnlyList<OpTypeTime> opTypes, TimeSpan modelRuns, int runCount)
    {
        OpTypes = opTypes;
        ModelRuns = modelRuns;
        RunCount = runCount;
    }

    /// <summary>Operator types, longest total first.</summary>
    public IReadOnlyList<OpTypeTime> OpTypes { get; }

    /// <summary>The summed duration of the "model_run" events (whole runs).</summary>
    public TimeSpan ModelRuns { get; }

    public int RunCount { get; }

    public TimeSpan KernelTotal => TimeSpan.FromTicks(OpTypes.Sum(o => o.Total.Ticks));

    public static OrtProfile Read(string path) => Parse(File.ReadAllText(path));

    public static OrtProfile Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var events = document.RootElement.ValueKind == JsonValueKind.Array
            ? document.RootElement
            : document.RootElement.GetProperty("traceEvents");
        var byOp = new Dictionary<string, (int Calls, long Micros, SortedSet<string> Providers)>(StringComparer.Ordinal);
        long runMicros = 0;
        int runs = 0;
        foreach (var e in events.EnumerateArray())
        {
            string name = e.TryGetProperty("name", out var n) ? n.GetString() ?? "" : "";
            string category = e.TryGetProperty("cat", out var c) ? c.GetString() ?? "" : "";
            long duration = e.TryGetProperty("dur", out var d) && d.ValueKind == JsonValueKind.Number ? d.GetInt64() : 0;
            if (category == "Session" && name == "model_run")
            {
                runMicros += duration;
                runs++;
            }
            if (category != "Node" || !name.EndsWith("_kernel_time", StringComparison.Ordinal) || !e.TryGetProperty("args", out var args)) continue;
            string op = args.TryGetProperty("op_name", out var o) ? o.GetString() ?? "?" : "?";
            string provider = args.TryGetProperty("provider", out var p) ? p.GetString() ?? "" : "";
            var entry = byOp.TryGetValue(op, out var existing) ? existing : (0, 0L, new SortedSet<string>(StringComparer.Ordinal));
            if (provider.Length > 0) entry.Item3.Add(provider);
            byOp[op] = (entry.Item1 + 1, entry.Item2 + duration, entry.Item3);
        }
        var ops = byOp.Select(kv => new OpTypeTime(kv.Key, kv.Value.Calls, TimeSpan.FromMicroseconds(kv.Value.Micros), [.. kv.Value.Providers]))
            .OrderByDescending(o => o.Total).ThenBy(o => o.OpType, StringComparer.Ordinal).ToList();
        return new OrtProfile(ops, TimeSpan.FromMicroseconds(runMicros), runs);
    }
}
