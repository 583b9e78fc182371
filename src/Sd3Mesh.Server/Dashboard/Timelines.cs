using System.Text.Json;
using Sd3Mesh.Runtime.Tracing;
using Job = Sd3Mesh.Server.Jobs.Job;

namespace Sd3Mesh.Server.Dashboard;

/// <summary>
/// A job's timeline (the spans its coordinator sent: stages, stage calls, transfers between silos) for the page, and as
/// a Chrome trace (the JSON Object Format of the Trace Event Format, which chrome://tracing and Perfetto open): one
/// process per silo, one thread per lane (a grain on its device, the coordinator, the transfers into a silo), a
/// complete ("X") event per span, times in microseconds from the job's creation.
/// </summary>
public static class Timelines
{
    public static TimelineView Of(Job job)
    {
        long origin = Micros(job.CreatedAt);
        var spans = job.Timeline.Snapshot();
        return new TimelineView(job.Id, origin, [.. spans.Select(s => new SpanView(s.Lane, s.Silo, KindName(s.Kind), s.Name, s.StartMicros - origin,
            s.DurationMicros, s.Step, s.Bytes, s.Detail, s.Error))], job.Timeline.Dropped);
    }

    /// <summary>Lanes in the order the page and the trace draw them: coordinators, then the stages' grains in pipeline order, then transfers.</summary>
    public static int LaneOrder(string lane)
    {
        string name = lane.Split('@')[0];
        int order = Array.IndexOf(LaneNames, name);
        return order >= 0 ? order : lane.StartsWith("transfers", StringComparison.Ordinal) ? LaneNames.Length + 1 : LaneNames.Length;
    }

    private static readonly string[] LaneNames = ["coordinator", "text_encoder", "text_encoder_2", "text_encoder_3", "transformer", "vae"];

    /// <summary>
    /// Each span's row in its lane: spans of one lane that overlap (a prompt and its negative encoded at once) go on rows
    /// of their own, since a trace's thread holds only spans that follow or nest in one another.
    /// </summary>
    public static IReadOnlyList<(SpanView Span, int Row)> Rows(IEnumerable<SpanView> spans)
    {
        var placed = new List<(SpanView, int)>();
        foreach (var lane in spans.GroupBy(s => (s.Silo, s.Lane)))
        {
            var ends = new List<long>();
            foreach (var s in lane.OrderBy(s => s.Start).ThenByDescending(s => s.Duration))
            {
                int row = ends.FindIndex(end => end <= s.Start);
                if (row < 0) { row = ends.Count; ends.Add(0); }
                ends[row] = s.Start + s.Duration;
                placed.Add((s, row));
            }
        }
        return placed;
    }

    public static byte[] ChromeTrace(Job job)
    {
        var timeline = Of(job);
        var rows = Rows(timeline.Spans);
        var silos = timeline.Spans.Select(s => s.Silo).Distinct().Order(StringComparer.Ordinal).ToList();
        var threads = rows.Select(r => (r.Span.Silo, r.Span.Lane, r.Row)).Distinct()
            .OrderBy(t => LaneOrder(t.Lane)).ThenBy(t => t.Lane, StringComparer.Ordinal).ThenBy(t => t.Row).ToList();
        int Pid(string silo) => silos.IndexOf(silo) + 1;
        int Tid((string Silo, string Lane, int Row) thread) => threads.IndexOf(thread) + 1;

        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartArray("traceEvents");
            foreach (var silo in silos)
            {
                Metadata(w, "process_name", Pid(silo), 0, "name", $"silo {silo}");
                Metadata(w, "process_sort_index", Pid(silo), 0, "sort_index", Pid(silo));
            }
            foreach (var thread in threads)
            {
                Metadata(w, "thread_name", Pid(thread.Silo), Tid(thread), "name", thread.Row == 0 ? thread.Lane : $"{thread.Lane} ({thread.Row + 1})");
                Metadata(w, "thread_sort_index", Pid(thread.Silo), Tid(thread), "sort_index", Tid(thread));
            }
            foreach (var (s, row) in rows.OrderBy(r => r.Span.Start))
            {
                w.WriteStartObject();
                w.WriteString("name", s.Step > 0 ? $"{s.Name} {s.Step}" : s.Name);
                w.WriteString("cat", s.Kind);
                w.WriteString("ph", "X");
                w.WriteNumber("ts", s.Start);
                w.WriteNumber("dur", s.Duration);
                w.WriteNumber("pid", Pid(s.Silo));
                w.WriteNumber("tid", Tid((s.Silo, s.Lane, row)));
                w.WriteStartObject("args");
                if (s.Step > 0) w.WriteNumber("step", s.Step);
                if (s.Bytes > 0) w.WriteNumber("bytes", s.Bytes);
                if (s.Detail is { } detail) w.WriteString("detail", detail);
                if (s.Error is { } error) w.WriteString("error", error);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteString("displayTimeUnit", "ms");
            w.WriteStartObject("otherData");
            w.WriteString("job", job.Id);
            w.WriteString("prompt", job.Request.Prompt);
            w.WriteNumber("origin_unix_us", timeline.OriginMicros);
            w.WriteNumber("dropped_spans", timeline.Dropped);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private static void Metadata(Utf8JsonWriter w, string name, int pid, int tid, string arg, object value)
    {
        w.WriteStartObject();
        w.WriteString("name", name);
        w.WriteString("ph", "M");
        w.WriteNumber("pid", pid);
        w.WriteNumber("tid", tid);
        w.WriteStartObject("args");
        if (value is int n) w.WriteNumber(arg, n);
        else w.WriteString(arg, value.ToString());
        w.WriteEndObject();
        w.WriteEndObject();
    }

    public static string KindName(SpanKind kind) => kind switch
    {
        SpanKind.Stage => "stage",
        SpanKind.Call => "call",
        _ => "transfer",
    };

    private static long Micros(DateTime utc) => (utc.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond;
}
