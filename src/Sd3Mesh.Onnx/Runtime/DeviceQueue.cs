using System.Collections.Concurrent;

namespace Sd3Mesh.Onnx;

/// <summary>
/// One device's executor: a dedicated thread that runs the ONNX Runtime calls for that device one at a time, in
/// the order they were queued. Calls on different devices run on different threads, so stages placed on two
/// devices overlap, while one device never runs two calls at once (what a GPU, and the grain runtime's one
/// activation per device, expect). There is one queue per <see cref="Device"/> per process (<see cref="For"/>).
/// <para>Work whose token is cancelled before it starts is skipped; work in progress gets the token (an ONNX
/// Runtime run stops at its next operator). Completions never run their continuations on the device's thread,
/// so awaiting code cannot hold the device up.</para>
/// </summary>
public sealed class DeviceQueue
{
    private static readonly ConcurrentDictionary<Device, Lazy<DeviceQueue>> s_queues = new();

    private readonly BlockingCollection<Action> _work = [];
    private int _pending;

    private DeviceQueue(Device device)
    {
        Device = device;
        var thread = new Thread(Loop) { IsBackground = true, Name = $"sd3mesh {device}" };
        thread.Start();
    }

    public Device Device { get; }

    /// <summary>Calls queued or running.</summary>
    public int Pending => Volatile.Read(ref _pending);

    /// <summary>The queue of <paramref name="device"/> (created on first use; its thread lives as long as the process).</summary>
    public static DeviceQueue For(Device device) =>
        s_queues.GetOrAdd(device, d => new Lazy<DeviceQueue>(() => new DeviceQueue(d))).Value;

    /// <summary>Runs <paramref name="work"/> on the device's thread after the calls queued before it.</summary>
    public Task<T> RunAsync<T>(Func<CancellationToken, T> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (cancellationToken.IsCancellationRequested)
        {
            completion.SetCanceled(cancellationToken);
            return completion.Task;
        }
        Interlocked.Increment(ref _pending);
        _work.Add(() =>
        {
            try
            {
                if (cancellationToken.IsCancellationRequested) completion.TrySetCanceled(cancellationToken);
                else completion.TrySetResult(work(cancellationToken));
            }
            catch (OperationCanceledException e) when (cancellationToken.IsCancellationRequested)
            {
                completion.TrySetCanceled(e.CancellationToken == cancellationToken ? cancellationToken : e.CancellationToken);
            }
            catch (Exception e)
            {
                completion.TrySetException(e);
            }
            finally
            {
                Interlocked.Decrement(ref _pending);
            }
        });
        return completion.Task;
    }

    /// <summary>Runs <paramref name="work"/> on the device's thread after the calls queued before it.</summary>
    public Task RunAsync(Action<CancellationToken> work, CancellationToken cancellationToken = default) =>
        RunAsync(ct => { work(ct); return true; }, cancellationToken);

    private void Loop()
    {
        foreach (var item in _work.GetConsumingEnumerable()) item();
    }
}
