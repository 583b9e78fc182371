using Google.Protobuf.WellKnownTypes;
using Sd3Mesh.Protos.V1;

namespace Sd3Mesh.Server.Jobs;

/// <summary>A stored result of a job (PNG or .npy bytes).</summary>
public sealed record StoredImage(string Id, int Index, JobImage Image)
{
    /// <summary>The size of the result (kept when the bytes are evicted).</summary>
    public long SizeBytes { get; init; } = Image.Data.Length;
    /// <summary>Its file in a durable store's data folder (relative path): the bytes when they are not in memory.</summary>
    public string? File { get; init; }
}

/// <summary>One generation job: its request, state, progress, results and event log.</summary>
public sealed class Job
{
    private readonly object _gate = new();

    /// <param name="detached">the job outlives its call (Submit), as opposed to a Generate call's job</param>
    /// <param name="recorded">called with each event before any watcher sees it (a durable store records it)</param>
    internal Job(string id, long sequence, GenerationSpec spec, GenerateRequest request, bool detached = true, Action<Job, JobEvent>? recorded = null)
    {
        Id = id;
        Sequence = sequence;
        _spec = new Lazy<GenerationSpec>(() => spec);
        // The listing shows the request without the init image bytes (they may be megabytes).
        InitImageBytes = request.InitImage.Length;
        Request = request.Clone();
        Request.InitImage = Google.Protobuf.ByteString.Empty;
        CreatedAt = DateTime.UtcNow;
        Detached = detached;
        Events = new JobEventLog(id, [], recorded is null ? null : e => recorded(this, e));
    }

    /// <summary>
    /// A job as a durable store kept it (see <see cref="JobJournal"/>), with its past events. Its spec is made when it
    /// runs again (an unfinished job), from its stored request.
    /// </summary>
    internal Job(Storage.JobRecord record, IReadOnlyList<StoredImage> images, IReadOnlyList<JobEvent> events, Func<GenerationSpec> spec,
        Action<Job, JobEvent> recorded)
    {
        var s = record.State;
        Id = s.Id;
        Sequence = record.Sequence;
        _spec = new Lazy<GenerationSpec>(spec);
        Request = s.Request;
        InitImageBytes = (int)s.InitImageBytes;
        CreatedAt = s.CreatedAt.ToDateTime();
        StartedAt = s.StartedAt?.ToDateTime();
        FinishedAt = s.FinishedAt?.ToDateTime();
        State = s.State;
        Stage = s.Stage;
        Step = (int)s.Step;
        TotalSteps = (int)s.TotalSteps;
        Images = images;
        Error = s.Error;
        Detached = record.Detached;
        Events = new JobEventLog(Id, events, e => recorded(this, e));
        _previewBytes = events.Sum(e => (long)(e.Step?.Preview?.Data.Length ?? 0));
    }

    private readonly Lazy<GenerationSpec> _spec;

    public string Id { get; }
    /// <summary>Submission order (newest jobs have the largest).</summary>
    public long Sequence { get; }
    public GenerationSpec Spec => _spec.Value;
    /// <summary>Submitted to outlive its call (Submit); a Generate call's job ends with its call.</summary>
    public bool Detached { get; }
    public GenerateRequest Request { get; }
    public int InitImageBytes { get; }
    public JobEventLog Events { get; }
    public DateTime CreatedAt { get; }
    public DateTime? StartedAt { get; private set; }
    public DateTime? FinishedAt { get; private set; }
    public JobState State { get; private set; } = JobState.Queued;
    public int QueuePosition { get; private set; }
    public Stage Stage { get; private set; }
    public int Step { get; private set; }
    public int TotalSteps { get; private set; }
    public IReadOnlyList<StoredImage> Images { get; private set; } = [];
    public Failed? Error { get; private set; }
    /// <summary>True once the image and preview bytes were dropped to keep the store within its budget.</summary>
    public bool ImagesEvicted { get; private set; }
    internal CancellationTokenSource Cancellation { get; } = new();
    private long _previewBytes;

    public bool IsEnded => State is JobState.Succeeded or JobState.Failed or JobState.Cancelled;

    /// <summary>
    /// The result bytes this job holds: its images and the previews in its event log (a finished event's
    /// inline images share the images' bytes).
    /// </summary>
    public long StoredBytes
    {
        get { lock (_gate) return Images.Sum(i => (long)i.Image.Data.Length) + _previewBytes; }
    }

    internal void SetQueuePosition(int position)
    {
        lock (_gate)
        {
            if (State != JobState.Queued || (position == QueuePosition && Events.Count > 0)) return;
            QueuePosition = position;
            Events.Append(new JobEvent { Queued = new Queued { Position = (uint)position } });
        }
    }

    /// <summary>Back in the queue after a restart (a running job keeps its progress until it runs again).</summary>
    internal void Requeue(int position)
    {
        lock (_gate)
        {
            State = JobState.Queued;
            QueuePosition = position;
            Events.Append(new JobEvent { Queued = new Queued { Position = (uint)position } });
        }
    }

    internal void MarkRunning()
    {
        lock (_gate)
        {
            State = JobState.Running;
            StartedAt = DateTime.UtcNow;
            QueuePosition = 0;
        }
    }

    internal void StageStarted(Stage stage)
    {
        lock (_gate)
        {
            Stage = stage;
            Events.Append(new JobEvent { StageStarted = new StageStarted { Stage = stage } });
        }
    }

    internal void StepCompleted(int step, int totalSteps, Preview? preview)
    {
        lock (_gate)
        {
            Step = step;
            TotalSteps = totalSteps;
            if (Events.Append(new JobEvent { Step = new StepProgress { Step = (uint)step, TotalSteps = (uint)totalSteps, Preview = preview } }) is not null)
                _previewBytes += preview?.Data.Length ?? 0;
        }
    }

    internal void Succeed(IReadOnlyList<StoredImage> images, Finished finished)
    {
        lock (_gate)
        {
            if (IsEnded) return;
            Images = images;
            End(JobState.Succeeded);
            Events.Append(new JobEvent { Finished = finished });
        }
    }

    internal void Fail(int code, string message)
    {
        lock (_gate)
        {
            if (IsEnded) return;
            Error = new Failed { Code = code, Message = message };
            End(JobState.Failed);
            Events.Append(new JobEvent { Failed = Error });
        }
    }

    /// <summary>Marks the job cancelled; false if it had already ended.</summary>
    internal bool MarkCancelled(string reason)
    {
        lock (_gate)
        {
            if (IsEnded) return false;
            End(JobState.Cancelled);
            Events.Append(new JobEvent { Cancelled = new Cancelled { Reason = reason } });
            return true;
        }
    }

    /// <summary>Drops the image bytes, and the same bytes and the previews from the event log.</summary>
    internal void EvictImages()
    {
        lock (_gate)
        {
            Images = Images.Select(i => i with { Image = i.Image with { Data = [] } }).ToList();
            Events.DropPayloads();
            _previewBytes = 0;
            ImagesEvicted = true;
        }
    }

    private void End(JobState state)
    {
        State = state;
        FinishedAt = DateTime.UtcNow;
    }

    /// <summary>The wire form (image bytes left out: GetImage serves them).</summary>
    public Protos.V1.Job ToProto()
    {
        lock (_gate)
        {
            var job = new Protos.V1.Job
            {
                Id = Id,
                State = State,
                Request = Request,
                InitImageBytes = (ulong)InitImageBytes,
                CreatedAt = Timestamp.FromDateTime(CreatedAt),
                QueuePosition = (uint)QueuePosition,
                Stage = Stage,
                Step = (uint)Step,
                TotalSteps = (uint)TotalSteps,
                Error = Error,
            };
            if (StartedAt is { } started) job.StartedAt = Timestamp.FromDateTime(started);
            if (FinishedAt is { } finished) job.FinishedAt = Timestamp.FromDateTime(finished);
            job.Images.AddRange(Images.Select(i => ImageProto(i, inlineLimit: -1)));
            return job;
        }
    }

    /// <summary>An image's wire form, with its bytes when they are at most <paramref name="inlineLimit"/>.</summary>
    public static Image ImageProto(StoredImage stored, long inlineLimit)
    {
        var image = stored.Image;
        return new Image
        {
            Id = stored.Id,
            Index = (uint)stored.Index,
            Seed = image.Seed,
            Width = (uint)image.Width,
            Height = (uint)image.Height,
            MediaType = image.MediaType,
            SizeBytes = (ulong)stored.SizeBytes,
            // The stored bytes themselves, not a copy: nothing changes them (eviction replaces the record).
            Data = image.Data.Length > 0 && image.Data.Length <= inlineLimit ? Google.Protobuf.UnsafeByteOperations.UnsafeWrap(image.Data) : Google.Protobuf.ByteString.Empty,
        };
    }
}
