using System.Diagnostics;
using Sd3Mesh.Runtime.Devices;

namespace Sd3Mesh.Runtime.Grains;

/// <summary>Where a submodule grain's sessions are.</summary>
public enum SessionState
{
    /// <summary>Not loaded yet, or released (idle timeout, or room needed by another grain): the next call loads them.</summary>
    Offloaded,
    Loading,
    Active,
    /// <summary>The last load failed; the next call tries again.</summary>
    Failed,
}

/// <summary>
/// A grain's ONNX Runtime sessions (<typeparamref name="T"/>: the grain's own bundle of them), loaded on demand under
/// its device's memory budget and released when the device needs the room while no call uses them. Thread-safe:
/// another grain's reservation may release them from another thread.
/// </summary>
public sealed class GrainSessions<T>(string name, long bytes, DeviceMemory memory, Func<CancellationToken, Task<T>> load)
    : IDeviceResident where T : class, IDisposable
{
    private readonly object _gate = new();
    private T? _loaded;
    private int _busy;

    public string Name { get; } = name;
    public long Bytes { get; } = bytes;
    public DateTime LastUsed { get; private set; } = DateTime.UtcNow;
    public SessionState State { get; private set; }
    public TimeSpan LoadTime { get; private set; }
    public int Loads { get; private set; }

    /// <summary>The sessions, loaded if needed, pinned until the lease is disposed.</summary>
    public async Task<Lease> AcquireAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _busy++;
            if (_loaded is { } ready) return new Lease(this, ready);
        }
        try
        {
            await memory.ReserveAsync(this, cancellationToken).ConfigureAwait(false);
            lock (_gate)
                if (_loaded is { } raced) return new Lease(this, raced);
            State = SessionState.Loading;
            long start = Stopwatch.GetTimestamp();
            T sessions;
            try
            {
                sessions = await load(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                State = SessionState.Failed;
                memory.Changed(this, released: true);
                throw;
            }
            LoadTime = Stopwatch.GetElapsedTime(start);
            lock (_gate)
            {
                _loaded = sessions;
                Loads++;
                State = SessionState.Active;
            }
            return new Lease(this, sessions);
        }
        catch
        {
            Release();
            throw;
        }
    }

    /// <summary>Releases the sessions unless a call holds a lease on them (the device needs the room).</summary>
    public bool TryRelease()
    {
        T? released;
        lock (_gate)
        {
            if (_busy > 0 || _loaded is null) return false;
            released = _loaded;
            _loaded = null;
            State = SessionState.Offloaded;
        }
        released.Dispose();
        return true;
    }

    /// <summary>Releases the sessions now (the grain is deactivating); calls in flight keep theirs until they end.</summary>
    public void Unload()
    {
        if (TryRelease()) memory.Changed(this, released: true);
    }

    private void Release()
    {
        lock (_gate)
        {
            _busy--;
            LastUsed = DateTime.UtcNow;
        }
        memory.Changed(this, released: false);
    }

    public readonly struct Lease(GrainSessions<T> owner, T sessions) : IDisposable
    {
        public T Sessions { get; } = sessions;
        public void Dispose() => owner.Release();
    }
}
