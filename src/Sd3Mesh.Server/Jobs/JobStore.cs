namespace Sd3Mesh.Server.Jobs;

/// <summary>
/// Jobs and their images in memory, with a bounded history: beyond <see cref="MaxJobs"/> jobs the
/// oldest ended jobs are forgotten, and beyond <see cref="MaxImageBytes"/> of images and step previews
/// the oldest ended jobs lose those bytes (GetImage then answers NOT_FOUND; their events no longer carry
/// them). Queued and running jobs are never dropped.
/// </summary>
public sealed class JobStore(int maxJobs = 1000, long maxImageBytes = 1L << 30)
{
    private readonly object _gate = new();
    private readonly Dictionary<string, Job> _jobs = new(StringComparer.Ordinal);
    private readonly LinkedList<Job> _order = []; // oldest first
    private long _sequence;

    public int MaxJobs { get; } = maxJobs;
    public long MaxImageBytes { get; } = maxImageBytes;

    internal Job Create(GenerationSpec spec, Protos.V1.GenerateRequest request)
    {
        lock (_gate)
        {
            string id;
            do id = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
            while (_jobs.ContainsKey(id));
            var job = new Job(id, ++_sequence, spec, request);
            _jobs.Add(id, job);
            _order.AddLast(job);
            Trim();
            return job;
        }
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
