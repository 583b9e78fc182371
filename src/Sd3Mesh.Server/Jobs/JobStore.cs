using Google.Protobuf;
using Grpc.Core;
using Sd3Mesh.Protos.V1;

namespace Sd3Mesh.Server.Jobs;

/// <summary>
/// Jobs and their images in memory, with a bounded history: beyond <see cref="MaxJobs"/> jobs the
/// oldest ended jobs are forgotten, and beyond <see cref="MaxImageBytes"/> of images and step previews
/// the oldest ended jobs lose those bytes from memory (their events no longer carry them; GetImage then reads
/// a durable store's file, or answers NOT_FOUND). Queued and running jobs are never dropped. With a
/// <see cref="JobJournal"/> every job is also recorded as it changes and read back at start (<see cref="Restore"/>).
/// A request id names one job: a repeat of its request finds that job (<see cref="FindRequest"/>).
/// </summary>
public sealed class JobStore(int maxJobs = 1000, long maxImageBytes = 1L << 30, JobJournal? journal = null, JobMetrics? metrics = null)
{
    private readonly object _gate = new();
    private readonly Dictionary<string, Job> _jobs = new(StringComparer.Ordinal);
    private readonly LinkedList<Job> _order = []; // oldest first
    private readonly Dictionary<string, (Job Job, byte[] Hash)> _requests = new(StringComparer.Ordinal);
    private long _sequence;

    public int MaxJobs { get; } = maxJobs;
    public long MaxImageBytes { get; } = maxImageBytes;
    /// <summary>The durable side (null: jobs live in memory only).</summary>
    public JobJournal? Journal { get; } = journal;

    internal Job Create(GenerationSpec spec, GenerateRequest request, bool detached = true)
    {
        lock (_gate)
        {
            string id;
            do id = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
            while (_jobs.ContainsKey(id));
            if (Journal is { } journal) spec = spec with { CheckpointInterval = journal.CheckpointEvery };
            var job = new Job(id, _sequence + 1, spec, request, detached, Journal is null ? null : Journal.Record, metrics);
            metrics?.Changed(Protos.V1.JobState.Unspecified, Protos.V1.JobState.Queued, null);
            byte[] hash = request.RequestId.Length > 0 ? Hash(request) : [];
            Journal?.Add(job, request, hash);
            _sequence++;
            _jobs.Add(id, job);
            _order.AddLast(job);
            if (request.RequestId.Length > 0) _requests[request.RequestId] = (job, hash);
            Trim();
            return job;
        }
    }

    /// <summary>
    /// The job a repeated request id names (null for a new id or none). The same id with another request is refused
    /// (ALREADY_EXISTS): the id names the first request.
    /// </summary>
    internal Job? FindRequest(GenerateRequest request)
    {
        if (request.RequestId.Length == 0) return null;
        lock (_gate)
        {
            if (!_requests.TryGetValue(request.RequestId, out var first)) return null;
            if (!first.Hash.AsSpan().SequenceEqual(Hash(request)))
                throw new RpcException(new Status(StatusCode.AlreadyExists,
                    $"request_id '{request.RequestId}' names job {first.Job.Id}, submitted with a different request; give a new job a new request_id"));
            return first.Job;
        }
    }

    private static byte[] Hash(GenerateRequest request) => System.Security.Cryptography.SHA256.HashData(request.ToByteArray());

    /// <summary>
    /// Reads back the jobs the journal kept (at start, before any job is submitted): all are listed again, and the
    /// unfinished ones are returned, oldest first, for the scheduler to queue again.
    /// </summary>
    internal IReadOnlyList<Job> Restore()
    {
        if (Journal is null) return [];
        lock (_gate)
        {
            var unfinished = new List<Job>();
            foreach (var (job, hash) in Journal.Load(metrics))
            {
                _jobs.Add(job.Id, job);
                _order.AddLast(job);
                _sequence = Math.Max(_sequence, job.Sequence);
                if (job.Request.RequestId.Length > 0) _requests[job.Request.RequestId] = (job, hash);
                if (job.IsEnded) continue;
                unfinished.Add(job);
                metrics?.Changed(Protos.V1.JobState.Unspecified, job.State, null); // queued or running again: counted from now
            }
            Trim();
            return unfinished;
        }
    }

    /// <summary>A finished job's results as stored: in memory, and in their files with a journal.</summary>
    internal IReadOnlyList<StoredImage> Save(Job job, IReadOnlyList<JobImage> images) =>
        Journal?.Save(job.Id, images) ?? [.. images.Select((image, i) => new StoredImage($"{job.Id}_{i}", i, image))];

    /// <summary>Jobs in the history.</summary>
    public int Count
    {
        get { lock (_gate) return _jobs.Count; }
    }

    public Job? Find(string id)
    {
        lock (_gate) return _jobs.GetValueOrDefault(id);
    }

    public Job Get(string id)
    {
        if (string.IsNullOrEmpty(id)) throw new ArgumentException("job_id is required");
        return Find(id) ?? throw new KeyNotFoundException($"job_id: no job '{id}' (unknown, or dropped from the history)");
    }

    /// <summary>Newest first, optionally only jobs in <paramref name="states"/>, starting below sequence <paramref name="before"/>.</summary>
    public IReadOnlyList<Job> List(long before, int limit, IReadOnlySet<Protos.V1.JobState>? states)
    {
        lock (_gate)
        {
            var result = new List<Job>(limit);
            for (var node = _order.Last; node is not null && result.Count < limit; node = node.Previous)
            {
                var job = node.Value;
                if (job.Sequence >= before) continue;
                if (states is { Count: > 0 } && !states.Contains(job.State)) continue;
                result.Add(job);
            }
            return result;
        }
    }

    public StoredImage GetImage(string imageId)
    {
        if (string.IsNullOrEmpty(imageId)) throw new ArgumentException("image_id is required");
        int split = imageId.LastIndexOf('_');
        var job = split > 0 ? Find(imageId[..split]) : null;
        var image = job?.Images.FirstOrDefault(i => i.Id == imageId)
            ?? throw new KeyNotFoundException($"image_id: no image '{imageId}'");
        // Not in memory (evicted, or restored from the journal): its file has the bytes.
        if (image.File is not null && Journal is { } journal && image.Image.Data.Length == 0)
            return image with { Image = image.Image with { Data = journal.Read(image) } };
        if (job!.ImagesEvicted)
            throw new KeyNotFoundException($"image_id: image '{imageId}' was dropped from the store (history limit of {MaxImageBytes} bytes)");
        return image;
    }

    /// <summary>Called when a job has ended (its images and previews are final): keeps the store within its bounds.</summary>
    internal void JobEnded()
    {
        lock (_gate) Trim();
    }

    private void Trim()
    {
        // Summed afresh (at most MaxJobs jobs), so that no running total can drift from what the jobs hold.
        long bytes = _jobs.Values.Sum(j => j.StoredBytes);
        var node = _order.First;
        while (node is not null && (_jobs.Count > MaxJobs || bytes > MaxImageBytes))
        {
            var next = node.Next;
            var job = node.Value;
            if (job.IsEnded)
            {
                long stored = job.StoredBytes;
                if (_jobs.Count > MaxJobs)
                {
                    _jobs.Remove(job.Id);
                    _order.Remove(node);
                    if (_requests.GetValueOrDefault(job.Request.RequestId).Job == job) _requests.Remove(job.Request.RequestId);
                    Journal?.Forget(job);
                    bytes -= stored;
                }
                else if (stored > 0)
                {
                    job.EvictImages();
                    bytes -= stored;
                }
            }
            node = next;
        }
    }
}
