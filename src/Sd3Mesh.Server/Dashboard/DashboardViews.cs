namespace Sd3Mesh.Server.Dashboard;

// What the dashboard's JSON endpoints and events carry (camelCase; documented in docs/dashboard.md).

/// <summary>The cluster as the page draws it: silos, and each device as a box holding the grains placed on it.</summary>
public sealed record ClusterPicture(string Name, DateTime Time, IReadOnlyList<SiloView> Silos, IReadOnlyList<DeviceView> Devices);

public sealed record SiloView(string Id, string Address, string Status, bool Primary, DateTime? StartedAt, string Version, IReadOnlyList<string> Devices);

/// <summary>A device: memory in bytes (budget 0: none set), what its budget holds, and its grains.</summary>
public sealed record DeviceView(string Name, string Kind, string Silo, string Description, long TotalBytes, long UsedBytes, long BudgetBytes,
    long WeightsLoadedBytes, int Evictions, IReadOnlyList<GrainView> Grains);

/// <summary>
/// A grain on a device: an SD3 submodule (<see cref="Kind"/> "submodule", <see cref="Name"/> its submodule) or a job's
/// coordinator ("coordinator", <see cref="JobId"/>). <see cref="ActivatedOn"/> is the silo Orleans has its activation
/// on (null: not activated).
/// </summary>
public sealed record GrainView(string Key, string Kind, string Name, string State, string? ActivatedOn, long WeightBytes, long Calls, double MeanMs,
    double P95Ms, string? LastError, DateTime? LastUsed, int Loads, double LoadMs, string? JobId);

/// <summary>The jobs the page lists (queued and running, then the newest ended), and the server's clock.</summary>
public sealed record JobsPicture(DateTime Now, IReadOnlyList<JobView> Jobs);

/// <summary>
/// A job: its request, state and progress. <see cref="StepSeconds"/> is the mean denoising step so far, the page's ETA
/// (remaining steps at that pace); <see cref="PreviewStep"/> the step of the newest preview (<c>previewUrl</c> serves it).
/// </summary>
public sealed record JobView(string Id, string State, string Prompt, string NegativePrompt, IReadOnlyList<ulong> Seeds, int Width, int Height,
    int Steps, string Stage, int Step, int TotalSteps, int QueuePosition, DateTime CreatedAt, DateTime? StartedAt, DateTime? FinishedAt,
    DateTime? LastStepAt, double? StepSeconds, double? EtaSeconds, int? PreviewStep, string? PreviewUrl, IReadOnlyList<ImageView> Images,
    JobErrorView? Error, string? CancelReason, int Spans, string TimelineUrl, string TraceUrl);

public sealed record ImageView(string Id, string Url, string MediaType, int Width, int Height, ulong Seed, long SizeBytes, bool Evicted);

/// <summary>A failed job's gRPC status (code and name) and message.</summary>
public sealed record JobErrorView(int Code, string Status, string Message);

/// <summary>A job's timeline: spans with start times in microseconds from <see cref="OriginMicros"/> (Unix time, µs).</summary>
public sealed record TimelineView(string JobId, long OriginMicros, IReadOnlyList<SpanView> Spans, int Dropped);

public sealed record SpanView(string Lane, string Silo, string Kind, string Name, long Start, long Duration, int Step, long Bytes, string? Detail,
    string? Error);
