using System.Threading.Channels;

namespace Sd3Mesh.Runtime.Jobs;

/// <summary>
/// Forwards a job's progress to its observer in order without holding the pipeline up: the pipeline's (synchronous)
/// progress callback queues each event; one loop awaits the observer's calls one after another (Orleans does not
/// keep one-way messages in order). <see cref="CompleteAsync"/> waits until every event has been delivered. An
/// observer that fails or does not answer within <see cref="CallTimeout"/> (its silo gone) is given up on: progress
/// is lost, the job is not.
/// </summary>
public sealed class ProgressRelay
{
    private readonly Channel<JobProgress> _events = Channel.CreateUnbounded<JobProgress>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;

    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    public ProgressRelay(IJobObserver observer) => _loop = Task.Run(async () =>
    {
        await foreach (var e in _events.Reader.ReadAllAsync())
        {
            try
            {
                await observer.OnProgress(e).WaitAsync(CallTimeout);
            }
            catch (Exception)
            {
                Failed = true;
                _events.Writer.TryComplete();
                return;
            }
        }
    });

    /// <summary>The observer failed; later events were dropped.</summary>
    public bool Failed { get; private set; }

    public void Post(JobProgress progress) => _events.Writer.TryWrite(progress);

    /// <summary>Delivers what is queued (or gives up with the observer, see the class summary).</summary>
    public Task CompleteAsync()
    {
        _events.Writer.TryComplete();
        return _loop;
    }
}
