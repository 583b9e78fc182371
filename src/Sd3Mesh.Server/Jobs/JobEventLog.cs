using System.Runtime.CompilerServices;
using Google.Protobuf.WellKnownTypes;
using Sd3Mesh.Protos.V1;

namespace Sd3Mesh.Server.Jobs;

/// <summary>
/// A job's events in order (sequence 0, 1, ...), readable by any number of watchers from any point:
/// past events are replayed, then new ones arrive as they are appended, until the terminal event.
/// </summary>
/// <param name="past">the events a durable store kept (a restored job's log goes on after them)</param>
/// <param name="appended">called with each event before watchers see it (a durable store records it)</param>
public sealed class JobEventLog(string jobId, IReadOnlyList<JobEvent> past, Action<JobEvent>? appended = null)
{
    private readonly object _gate = new();
    private readonly List<JobEvent> _events = [.. past];
    // Completed and replaced on every append: readers await the current one.
    private TaskCompletionSource _appended = NewSignal();

    public int Count { get { lock (_gate) return _events.Count; } }
    public bool IsEnded { get; private set; } = past.Count > 0 && IsTerminal(past[^1]);

    private static bool IsTerminal(JobEvent e) =>
        e.EventCase is JobEvent.EventOneofCase.Finished or JobEvent.EventOneofCase.Failed or JobEvent.EventOneofCase.Cancelled;

    /// <summary>Appends an event (its job id, sequence and time are filled in). Ignored after the terminal event.</summary>
    public JobEvent? Append(JobEvent e)
    {
        lock (_gate)
        {
            if (IsEnded) return null;
            e.JobId = jobId;
            e.Sequence = (ulong)_events.Count;
            e.Time = Timestamp.FromDateTime(DateTime.UtcNow);
            appended?.Invoke(e);
            _events.Add(e);
            IsEnded = IsTerminal(e);
            _appended.TrySetResult();
            _appended = NewSignal();
            return e;
        }
    }

    /// <summary>
    /// Replaces the events that carry bytes (step previews, a finished event's inline images) by copies
    /// without them; events already handed to watchers stay as they were.
    /// </summary>
    public void DropPayloads()
    {
        lock (_gate)
        {
            for (int i = 0; i < _events.Count; i++)
            {
                var e = _events[i];
                if (e.Step?.Preview is not null)
                {
                    _events[i] = e.Clone();
                    _events[i].Step.Preview = null;
                }
                else if (e.Finished?.Images.Any(image => !image.Data.IsEmpty) == true)
                {
                    _events[i] = e.Clone();
                    foreach (var image in _events[i].Finished.Images) image.Data = Google.Protobuf.ByteString.Empty;
                }
            }
        }
    }

    public IReadOnlyList<JobEvent> Snapshot()
    {
        lock (_gate) return _events.ToList();
    }

    /// <summary>Events from <paramref name="fromSequence"/> on, live, ending after the terminal event.</summary>
    public async IAsyncEnumerable<JobEvent> ReadAsync(ulong fromSequence, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        int next = (int)Math.Min(fromSequence, int.MaxValue);
        while (true)
        {
            JobEvent[] batch;
            Task appended;
            bool ended;
            lock (_gate)
            {
                batch = next < _events.Count ? _events.GetRange(next, _events.Count - next).ToArray() : [];
                appended = _appended.Task;
                ended = IsEnded;
            }
            foreach (var e in batch) yield return e;
            next += batch.Length;
            if (ended) yield break;
            await appended.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
