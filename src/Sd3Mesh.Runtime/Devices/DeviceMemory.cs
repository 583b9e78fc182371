using Sd3Mesh.Onnx;
using Sd3Mesh.Runtime.Config;

namespace Sd3Mesh.Runtime.Devices;

/// <summary>What a grain's sessions look like to its device's memory accounting.</summary>
public interface IDeviceResident
{
    string Name { get; }
    long Bytes { get; }
    /// <summary>When it was last used (least recently used goes first).</summary>
    DateTime LastUsed { get; }
    /// <summary>Releases its sessions unless a call is using them; true when released.</summary>
    bool TryRelease();
}

/// <summary>
/// One device's memory budget on this silo and the grains whose sessions it holds: the cluster's form of diffusers'
/// model CPU offload. A grain that needs its sessions reserves its weights' size; when that does not fit, the least
/// recently used idle grains on the device release theirs (and load again on their next call). If the room is held by
/// grains in use, the reservation waits for them, up to <see cref="WaitLimit"/>.
/// </summary>
public sealed class DeviceMemory(Device device, long? budget)
{
    private readonly object _gate = new();
    private readonly List<IDeviceResident> _loaded = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Device Device { get; } = device;
    /// <summary>Bytes grains may hold here; null: no limit.</summary>
    public long? Budget { get; } = budget;
    public TimeSpan WaitLimit { get; init; } = TimeSpan.FromMinutes(5);

    public long Used { get { lock (_gate) return _loaded.Sum(r => r.Bytes); } }
    public IReadOnlyList<string> Residents { get { lock (_gate) return [.. _loaded.Select(r => r.Name)]; } }
    /// <summary>Sessions released to make room, since the silo started.</summary>
    public int Evictions { get; private set; }

    /// <summary>Makes room for <paramref name="resident"/> (a no-op when it is loaded already).</summary>
    public async Task ReserveAsync(IDeviceResident resident, CancellationToken cancellationToken)
    {
        if (Budget is long b && resident.Bytes > b)
            throw new InvalidOperationException($"{resident.Name} needs {ByteSize.Format(resident.Bytes)}, more than {Device}'s memory budget ({ByteSize.Format(b)})");
        var deadline = DateTime.UtcNow + WaitLimit;
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_loaded.Contains(resident)) return;
                long used = _loaded.Sum(r => r.Bytes);
                if (Budget is long limit && used + resident.Bytes > limit)
                    foreach (var victim in _loaded.OrderBy(r => r.LastUsed).ToArray())
                    {
                        if (used + resident.Bytes <= limit) break;
                        if (!victim.TryRelease()) continue;
                        _loaded.Remove(victim);
                        used -= victim.Bytes;
                        Evictions++;
                    }
                if (Budget is not long max || used + resident.Bytes <= max)
                {
                    _loaded.Add(resident);
                    return;
                }
                changed = _changed.Task;
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                throw new TimeoutException($"{resident.Name} ({ByteSize.Format(resident.Bytes)}) waited {WaitLimit} for room on {Device} " +
                    $"(budget {ByteSize.Format(Budget!.Value)}, held by {string.Join(", ", Residents)}, all in use)");
            await changed.WaitAsync(left, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A resident finished a call (it may be evicted now) or let its sessions go on its own.</summary>
    public void Changed(IDeviceResident resident, bool released)
    {
        TaskCompletionSource signal;
        lock (_gate)
        {
            if (released) _loaded.Remove(resident);
            signal = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        signal.TrySetResult();
    }
}

/// <summary>The devices of this silo with their budgets (the config's, else what the device reports for CUDA; CPU: none).</summary>
public sealed class DeviceMemories(ClusterConfig config, Func<Device, long?> reported)
{
    private readonly Dictionary<Device, DeviceMemory> _devices = [];

    public DeviceMemory For(Device device)
    {
        lock (_devices)
        {
            if (!_devices.TryGetValue(device, out var memory))
                _devices[device] = memory = new DeviceMemory(device, config.MemoryBudgets.TryGetValue(device, out var b) ? b : reported(device));
            return memory;
        }
    }

    public IReadOnlyList<DeviceMemory> All { get { lock (_devices) return [.. _devices.Values]; } }
}
