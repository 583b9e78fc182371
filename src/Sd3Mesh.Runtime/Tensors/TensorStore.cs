using System.Collections.Concurrent;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Tensors;

/// <summary>
/// The tensors a silo's grains have handed out and not yet delivered: published once, taken by their reader
/// (in memory on this silo, or streamed to another silo by the tensor transport), then dropped. Entries that
/// nobody takes expire, so a failed job cannot leak memory.
/// </summary>
public sealed class TensorStore(string silo, string endpoint, TimeProvider? time = null)
{
    /// <summary>Tensors up to this size travel inside grain messages.</summary>
    public const int InlineLimit = 64 * 1024;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    private sealed record Entry(Tensor Tensor, DateTimeOffset Expires);

    public string Silo { get; } = silo;
    public string Endpoint { get; } = endpoint;
    public TimeSpan Lifetime { get; init; } = TimeSpan.FromMinutes(10);
    public int Count => _entries.Count;
    public long Bytes => _entries.Values.Sum(e => e.Tensor.ByteCount);

    /// <summary>A reference to <paramref name="tensor"/> for one reader; small tensors are copied inline.</summary>
    public TensorRef Publish(Tensor tensor)
    {
        if (tensor.ByteCount <= InlineLimit)
            return new TensorRef { DType = (int)tensor.DType, Shape = tensor.Shape.ToArray(), Inline = tensor.Data.ToArray() };
        Sweep();
        string id = Guid.NewGuid().ToString("N");
        _entries[id] = new Entry(tensor, _time.GetUtcNow() + Lifetime);
        return new TensorRef { Id = id, Silo = Silo, Endpoint = Endpoint, DType = (int)tensor.DType, Shape = tensor.Shape.ToArray() };
    }

    /// <summary>Removes and returns a published tensor (null if unknown, taken or expired): its reader is on this silo.</summary>
    public Tensor? Take(string id) => Find(id) is { } tensor && _entries.TryRemove(id, out _) ? tensor : null;

    /// <summary>
    /// A published tensor, left in the store (null if unknown, taken or expired): the transport streams it from here
    /// and <see cref="Remove"/>s it once delivered, so a stream that fails halfway can be fetched again.
    /// </summary>
    public Tensor? Find(string id)
    {
        Sweep();
        return _entries.TryGetValue(id, out var e) ? e.Tensor : null;
    }

    public void Remove(string id) => _entries.TryRemove(id, out _);

    private void Sweep()
    {
        var now = _time.GetUtcNow();
        foreach (var (id, e) in _entries)
            if (e.Expires <= now) _entries.TryRemove(id, out _);
    }
}
