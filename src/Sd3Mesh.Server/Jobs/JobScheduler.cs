using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Grpc.Core;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Grpc;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Server.Jobs;

/// <summary>
/// Runs jobs first come first served, up to <see cref="MaxInFlight"/> at once (more than one lets the grain
/// runtime pipeline jobs: encoders on job k+1 while the transformer denoises job k): accepts them (with their
/// queue position), starts the next when a slot is free, turns the executor's progress and outcome into events,
/// and cancels queued or running jobs on request. With a durable store it first queues again the jobs the last
/// run left unfinished (<see cref="Start"/>), and stopping keeps submitted jobs for the next start (<see cref="Keeps"/>).
/// </summary>
public sealed class JobScheduler : IAsyncDisposable
{
    private readonly IJobExecutor _executor;
    private readonly JobStore _store;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private readonly LinkedList<Job> _waiting = [];
    private readonly SemaphoreSlim _available = new(0);
    private readonly CancellationTokenSource _stopping = new();
    private readonly HashSet<Job> _running = [];
    private readonly List<Task> _runs = [];
    /// <summary>Who submitted each waiting job (admission per client).</summary>
    private readonly Dictionary<Job, string> _clientOf = [];
    /// <summary>How long a job has taken lately (exponentially weighted), for the retry hint; null until one has ended.</summary>
    private TimeSpan? _typicalJob;
    private SemaphoreSlim? _slots;
    private Task? _worker;

    public JobScheduler(IJobExecutor executor, JobStore store, int maxQueuedJobs = 100, ILogger? logger = null)
    {
        _executor = executor;
        _store = store;
        MaxQueuedJobs = maxQueuedJobs;
        _logger = logger ?? NullLogger.Instance;
    }

    public int MaxQueuedJobs { get; }

    /// <summary>Jobs one client may have waiting at once (the cluster config's jobs.client_queue_capacity).</summary>
    public int MaxQueuedJobsPerClient { get; init; } = int.MaxValue;

    /// <summary>The trailer that tells a client when to retry (gRFC A6's server pushback), in milliseconds.</summary>
    public const string RetryPushbackTrailer = "retry-pushback-ms";

    /// <summary>Jobs that run at once (1: strictly one after another).</summary>
    public int MaxInFlight { get; init; } = 1;
    public JobStore Store => _store;

    /// <summary>Starts running jobs: first those a durable store kept unfinished (see <see cref="Recover"/>), then new ones.</summary>
    public void Start()
    {
        _slots ??= new SemaphoreSlim(MaxInFlight);
        if (_worker is null) Recover();
        _worker ??= Task.Run(RunAsync);
    }

    /// <summary>Ends when stopping begins: the streams of jobs kept for the next start (<see cref="Keeps"/>) end with it.</summary>
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>
    /// Whether stopping leaves this job to the next start rather than cancelling it: a submitted job (not a Generate
    /// call's, which lives only as long as its call) in a durable store.
    /// </summary>
    public bool Keeps(Job job) => _store.Journal is not null && job.Detached;

    /// <summary>
    /// Queues a validated job (<paramref name="detached"/>: it outlives its call, as Submit's do). A request id that
    /// names a job already gives that job. RESOURCE_EXHAUSTED when the queue is full, or <paramref name="client"/> has
    /// as many jobs waiting as one client may, with a retry hint (a <see cref="RetryPushbackTrailer"/> trailer, and the
    /// same in the message); UNAVAILABLE while stopping.
    /// </summary>
    /// <param name="client">who submits it (a client id, else the peer's address); null: not counted per client</param>
    public Job Submit(GenerationSpec spec, GenerateRequest request, bool detached = true, string? client = null)
    {
        lock (_gate)
        {
            if (_stopping.IsCancellationRequested)
                throw new RpcException(new Status(StatusCode.Unavailable, "the server is shutting down and accepts no new jobs"));
            if (_store.FindRequest(request) is { } first) return first;
            if (_waiting.Count >= MaxQueuedJobs)
                throw Exhausted($"the job queue is full ({MaxQueuedJobs} jobs waiting)", ahead: 0);
            if (client is not null)
            {
                int mine = 0, firstWaiting = -1, position = 0;
                foreach (var waiting in _waiting)
                {
                    if (_clientOf.GetValueOrDefault(waiting) == client && mine++ == 0) firstWaiting = position;
                    position++;
                }
                // Room for this client opens when its first waiting job starts: after the jobs ahead of it have started.
                if (mine >= MaxQueuedJobsPerClient)
                    throw Exhausted($"{client} has {mine} jobs waiting, as many as one client may (jobs.client_queue_capacity {MaxQueuedJobsPerClient})", ahead: firstWaiting);
            }
            var job = _store.Create(spec, request, detached);
            _waiting.AddLast(job);
            if (client is not null) _clientOf[job] = client;
            job.SetQueuePosition(_waiting.Count - 1 + RunningAhead);
            _available.Release();
            return job;
        }
    }

    /// <summary>
    /// The jobs the last run left unfinished, from a durable store, oldest first: submitted ones queue again (a job
    /// that was running resumes from its checkpoint); a Generate call's job is cancelled, as its call ended with the
    /// server.
    /// </summary>
    private void Recover()
    {
        var unfinished = _store.Restore();
        if (_store.Journal is not { } journal) return;
        int requeued = 0;
        foreach (var job in unfinished)
        {
            if (!job.Detached)
            {
                job.MarkCancelled("the server stopped during the job's Generate call (its job lives only as long as the call)");
                continue;
            }
            lock (_gate)
            {
                _waiting.AddLast(job);
                job.Requeue(_waiting.Count - 1);
                _available.Release();
            }
            requeued++;
        }
        _logger.LogInformation("job store {Store}: {Jobs} jobs kept; {Requeued} unfinished queued again, {Cancelled} Generate calls' jobs cancelled",
            journal.Description, _store.Count, requeued, unfinished.Count - requeued);
    }

    /// <summary>Cancels a queued or running job; false when it had already ended.</summary>
    public bool Cancel(string jobId, string reason)
    {
        var job = _store.Get(jobId);
        lock (_gate)
        {
            if (_waiting.Remove(job))
            {
                _clientOf.Remove(job);
                job.MarkCancelled(reason);
                UpdatePositions();
                return true;
            }
        }
        // Mark first (with this reason), then stop the executor: the worker finds the job ended.
        if (!job.MarkCancelled(reason)) return false;
        job.Cancellation.Cancel();
        return true;
    }

    private async Task RunAsync()
    {
        while (true)
        {
            try
            {
                await _available.WaitAsync(_stopping.Token).ConfigureAwait(false);
                await _slots!.WaitAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            Job? job;
            lock (_gate)
            {
                job = _waiting.First?.Value;
                if (job is null)
                {
                    _slots.Release(); // cancelled while waiting
                    continue;
                }
                _waiting.RemoveFirst();
                _clientOf.Remove(job);
                _running.Add(job);
                job.MarkRunning();
                UpdatePositions();
                _runs.RemoveAll(r => r.IsCompleted);
                _runs.Add(RunAndReleaseAsync(job));
            }
        }
    }

    private async Task RunAndReleaseAsync(Job job)
    {
        try
        {
            await Task.Yield();
            await RunJobAsync(job).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate) _running.Remove(job);
            _slots!.Release();
        }
    }

    private async Task RunJobAsync(Job job)
    {
        var clock = Stopwatch.StartNew();
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(job.Cancellation.Token, _stopping.Token);
        try
        {
            var images = await _executor.ExecuteAsync(job.Spec, new Progress(job, _store), cancel.Token).ConfigureAwait(false);
            cancel.Token.ThrowIfCancellationRequested();
            if (images.Count != job.Spec.Count)
                throw new InvalidOperationException($"the executor returned {images.Count} images for count {job.Spec.Count}");
            var stored = _store.Save(job, images);
            var finished = new Finished { ElapsedSeconds = clock.Elapsed.TotalSeconds };
            finished.Images.AddRange(stored.Select(s => Job.ImageProto(s, InlineImageLimit)));
            job.Succeed(stored, finished);
            lock (_gate) _typicalJob = _typicalJob is { } typical ? typical * 0.8 + clock.Elapsed * 0.2 : clock.Elapsed;
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            // A job kept for the next start stays as it is (running, with its checkpoint) and resumes then.
            if (!(_stopping.IsCancellationRequested && Keeps(job)))
                job.MarkCancelled(_stopping.IsCancellationRequested ? "the server is shutting down" : "cancelled");
        }
        catch (Exception e)
        {
            var status = StatusMapping.FromException(e, out bool unexpected);
            if (unexpected) _logger.LogError(e, "job {JobId} failed", job.Id);
            job.Fail((int)status.StatusCode, status.Detail);
        }
        finally
        {
            _store.JobEnded();
        }
    }

    /// <summary>
    /// RESOURCE_EXHAUSTED with when to try again: after <paramref name="ahead"/> + 1 jobs have started, that is as many
    /// jobs ending at <see cref="MaxInFlight"/> at a time, each taking what jobs have lately (1 s before any has ended);
    /// at least 1 s, at most 10 minutes.
    /// </summary>
    private RpcException Exhausted(string why, int ahead)
    {
        var typical = _typicalJob ?? TimeSpan.FromSeconds(1);
        var wait = TimeSpan.FromMilliseconds(Math.Clamp(typical.TotalMilliseconds * (ahead + 1) / MaxInFlight, 1000, 600_000));
        long ms = (long)Math.Ceiling(wait.TotalMilliseconds);
        return new RpcException(new Status(StatusCode.ResourceExhausted, $"{why}; try again in {Math.Ceiling(wait.TotalSeconds):F0} s"),
            new Metadata { { RetryPushbackTrailer, ms.ToString(System.Globalization.CultureInfo.InvariantCulture) } });
    }

    /// <summary>Image bytes up to this size travel inside the finished event; larger ones only by GetImage.</summary>
    public long InlineImageLimit { get; init; } = 2 * 1024 * 1024;

    private void UpdatePositions()
    {
        int position = RunningAhead;
        foreach (var waiting in _waiting) waiting.SetQueuePosition(position++);
    }

    /// <summary>
    /// The running jobs ahead of the queue. A job that has ended (its last event sent, or cancelled while its
    /// executor winds down) is ahead of nobody, though its run may not have let go of it yet.
    /// </summary>
    private int RunningAhead => _running.Count(j => !j.IsEnded);

    /// <summary>
    /// Refuses new jobs and cancels the queued and running ones at once (their event streams end now, whatever
    /// the executor does), except those kept for the next start (<see cref="Keeps"/>), which stop where they are;
    /// completes when the running jobs' executor calls have returned.
    /// </summary>
    public async Task StopAsync()
    {
        List<Job> ending;
        lock (_gate)
        {
            if (!_stopping.IsCancellationRequested)
            {
                _stopping.Cancel();
                ending = _waiting.ToList();
                _waiting.Clear();
                _clientOf.Clear();
                ending.AddRange(_running);
                ending.RemoveAll(Keeps);
            }
            else ending = [];
        }
        foreach (var job in ending) job.MarkCancelled("the server is shutting down");
        if (_worker is not null) await _worker.ConfigureAwait(false);
        Task[] runs;
        lock (_gate) runs = [.. _runs];
        await Task.WhenAll(runs).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    /// <summary>The executor's progress, recorded on the job (and so sent to its watchers); checkpoints go to the store.</summary>
    private sealed class Progress(Job job, JobStore store) : IJobProgress
    {
        public string JobId => job.Id;

        public void StageStarted(PipelineStage stage)
        {
            foreach (var apiStage in JobStages.OnStart(stage)) job.StageStarted(apiStage);
        }

        public void StepCompleted(int step, int totalSteps, JobPreview? preview = null, Tensor? checkpoint = null)
        {
            if (checkpoint is not null) store.Journal?.SaveCheckpoint(job, step, checkpoint);
            job.StepCompleted(step, totalSteps, preview is null ? null : new Preview
            {
                MediaType = preview.MediaType,
                Width = (uint)preview.Width,
                Height = (uint)preview.Height,
                Data = Google.Protobuf.UnsafeByteOperations.UnsafeWrap(preview.Data), // handed over, not copied
            });
        }

        public void SpansRecorded(IReadOnlyList<Runtime.Tracing.TraceSpan> spans) => job.AddSpans(spans);
    }
}
