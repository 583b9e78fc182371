namespace Sd3Mesh.Runtime.Tracing;

/// <summary>What a span times: a pipeline stage on the coordinator, a call to a stage grain, or a tensor pulled between silos.</summary>
public enum SpanKind
{
    Stage,
    Call,
    Transfer,
}

/// <summary>
/// One timed piece of a job, as the timeline draws it: on a lane (a grain on its device, the coordinator, or the
/// transfers into a silo), from <see cref="StartMicros"/> (Unix time in microseconds, so spans from the silos of one
/// machine line up) for <see cref="DurationMicros"/>.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TraceSpan(
    [property: Id(0)] string Lane,
    [property: Id(1)] string Silo,
    [property: Id(2)] SpanKind Kind,
    [property: Id(3)] string Name,
    [property: Id(4)] long StartMicros,
    [property: Id(5)] long DurationMicros)
{
    /// <summary>A transformer step's position in the schedule (1-based); 0 for other spans.</summary>
    [Id(6)] public int Step { get; init; }
    /// <summary>Bytes a transfer moved.</summary>
    [Id(7)] public long Bytes { get; init; }
    /// <summary>What the span moved or ran on, e.g. "float32 [1, 512, 64] from silo1".</summary>
    [Id(8)] public string? Detail { get; init; }
    /// <summary>The exception type when the call failed.</summary>
    [Id(9)] public string? Error { get; init; }

    /// <summary>A span that ends now and began <paramref name="elapsed"/> ago.</summary>
    public static TraceSpan EndingNow(string lane, string silo, SpanKind kind, string name, TimeSpan elapsed)
    {
        long duration = (long)(elapsed.Ticks / (double)TimeSpan.TicksPerMicrosecond);
        return new TraceSpan(lane, silo, kind, name, NowMicros() - duration, duration);
    }

    public static long NowMicros() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond;
}
