using System.Threading.Channels;

namespace Sd3Mesh.Runtime.Jobs;

/// <summary>
/// Forwards a job's progress to its observer in order without holding the pipeline up: the pipeline's (synchronous)
/// progress callback queues each event; one loop awaits the observer's calls one after another (Orleans does not
/// keep one-way messages in order). <see cref="CompleteAsync"/> waits until every event has been delivered.
/// </summary>
public sealed class ProgressRelay
{
    private readonly Channel<JobProgress> _events = Channel.CreateUnbounded<JobProgress>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;

    public ProgressRelay(IJobObserver observer) => _loop = Task.Run(async () =>
    {
        await foreach (var e in _events.Reader.ReadAllAsync())
            await observer.OnProgress(e);
    });

    public void Post(JobProgress progress) => _events.Writer.TryWrite(progress);

    /// <summary>Delivers what is queued; a failing observer (its silo gone) fails here.</summary>
    public Task CompleteAsync()
    {
        _events.Writer.TryComplete();
        return _loop;
    }
}
