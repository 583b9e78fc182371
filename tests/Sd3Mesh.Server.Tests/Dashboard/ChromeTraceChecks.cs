using System.Text.Json;

namespace Sd3Mesh.Server.Tests.Dashboard;

/// <summary>What a Chrome trace (the Trace Event Format's JSON object form) of a job on the dashboard cluster must hold.</summary>
public static class ChromeTraceChecks
{
    public sealed record Event(string Name, string Ph, string? Cat, double Ts, double Dur, int Pid, int Tid, JsonElement Args);

    public static List<Event> Events(JsonElement trace) => [.. trace.GetProperty("traceEvents").EnumerateArray().Select(e => new Event(
        e.GetProperty("name").GetString()!, e.GetProperty("ph").GetString()!, e.TryGetProperty("cat", out var c) ? c.GetString() : null,
        e.TryGetProperty("ts", out var ts) ? ts.GetDouble() : 0, e.TryGetProperty("dur", out var d) ? d.GetDouble() : 0,
        e.GetProperty("pid").GetInt32(), e.GetProperty("tid").GetInt32(), e.GetProperty("args")))];

    /// <summary>The process (silo) and thread (lane) names by their ids.</summary>
    public static (Dictionary<int, string> Processes, Dictionary<(int, int), string> Threads) Names(List<Event> events) => (
        events.Where(e => e is { Ph: "M", Name: "process_name" }).ToDictionary(e => e.Pid, e => e.Args.GetProperty("name").GetString()!),
        events.Where(e => e is { Ph: "M", Name: "thread_name" }).ToDictionary(e => (e.Pid, e.Tid), e => e.Args.GetProperty("name").GetString()!));

    /// <summary>
    /// A job of <paramref name="steps"/> steps on the dashboard cluster: silos dash0 and dash1; one complete event per
    /// step (step 1..N once each) on dash0's transformer thread, inside the denoise stage; T5 calls on dash1's device;
    /// the decoded image (<paramref name="decodedBytes"/>) pulled from dash1 into dash0.
    /// </summary>
    public static void AssertJob(JsonElement trace, int steps, long decodedBytes)
    {
        Assert.Equal("ms", trace.GetProperty("displayTimeUnit").GetString());
        var events = Events(trace);
        Assert.All(events, e => Assert.Contains(e.Ph, new[] { "M", "X" }));
        var (processes, threads) = Names(events);
        Assert.Equal(["silo dash0", "silo dash1"], processes.Values.Order());
        string Thread(Event e) => threads[(e.Pid, e.Tid)];
        string Process(Event e) => processes[e.Pid];
        var spans = events.Where(e => e.Ph == "X").ToList();
        Assert.All(spans, e => Assert.True(e.Ts >= 0 && e.Dur >= 0 && threads.ContainsKey((e.Pid, e.Tid)), $"{e}"));

        var stepSpans = spans.Where(e => e.Args.TryGetProperty("step", out _)).ToList();
        Assert.Equal(Enumerable.Range(1, steps), stepSpans.Select(e => e.Args.GetProperty("step").GetInt32()).Order());
        Assert.All(stepSpans, e => Assert.Equal(($"step {e.Args.GetProperty("step").GetInt32()}", "call", "transformer@cpu:0", "silo dash0"),
            (e.Name, e.Cat, Thread(e), Process(e))));
        var denoise = Assert.Single(spans, e => e.Name == "denoise");
        Assert.Equal(("stage", "coordinator@cpu:0"), (denoise.Cat, Thread(denoise)));
        Assert.All(stepSpans, e => Assert.InRange(e.Ts, denoise.Ts, denoise.Ts + denoise.Dur));

        Assert.Contains(spans, e => (e.Name, Thread(e), Process(e)) == ("encode", "text_encoder_3@cpu:1", "silo dash1"));
        Assert.Contains(spans, e => (e.Name, Thread(e), Process(e)) == ("decode", "vae@cpu:1", "silo dash1"));
        var pulled = spans.Where(e => e.Cat == "transfer" && Thread(e) == "transfers to dash0").ToList();
        Assert.Contains(pulled, e => e.Args.GetProperty("bytes").GetInt64() == decodedBytes && e.Args.GetProperty("detail").GetString()!.EndsWith("from dash1"));
    }
}
