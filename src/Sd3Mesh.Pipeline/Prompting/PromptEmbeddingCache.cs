using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Prompting;

/// <summary>
/// A bounded least-recently-used cache of text-encoder outputs keyed by (encoder, text, max length), so a
/// repeated prompt (or the usual empty negative prompt) skips the encoders. Bounded by entry count and by
/// bytes held (a full-size T5 output is 4 MiB per 256 tokens). Thread-safe; counts hits and misses.
/// </summary>
public sealed class PromptEmbeddingCache
{
    public readonly record struct Key(string Encoder, string Text, int MaxLength);

    private readonly object _lock = new();
    private readonly Dictionary<Key, LinkedListNode<(Key Key, object Value, long Bytes)>> _map = new();
    private readonly LinkedList<(Key Key, object Value, long Bytes)> _lru = new();
    private long _bytes;

    public PromptEmbeddingCache(int maxEntries = 64, long maxBytes = 256L << 20)
    {
        if (maxEntries < 1) throw new ArgumentOutOfRangeException(nameof(maxEntries));
        MaxEntries = maxEntries;
        MaxBytes = maxBytes;
    }

    public int MaxEntries { get; }
    public long MaxBytes { get; }
    public long Hits { get; private set; }
    public long Misses { get; private set; }
    public int Count { get { lock (_lock) return _map.Count; } }
    public long Bytes { get { lock (_lock) return _bytes; } }

    public async Task<ClipTextEncoding> GetOrAddAsync(Key key, Func<Task<ClipTextEncoding>> encode) =>
        (ClipTextEncoding)await GetOrAddAsync(key, async () => (object)await encode().ConfigureAwait(false),
            v => ((ClipTextEncoding)v).Pooled.ByteCount + ((ClipTextEncoding)v).HiddenState.ByteCount).ConfigureAwait(false);

    public async Task<Tensor> GetOrAddAsync(Key key, Func<Task<Tensor>> encode) =>
        (Tensor)await GetOrAddAsync(key, async () => (object)await encode().ConfigureAwait(false), v => ((Tensor)v).ByteCount).ConfigureAwait(false);

    private async Task<object> GetOrAddAsync(Key key, Func<Task<object>> encode, Func<object, long> size)
    {
        lock (_lock)
        {
            if (_map.TryGetValue(key, out var node))
            {
                _lru.Remove(node);
                _lru.AddFirst(node);
                Hits++;
                return node.Value.Value;
            }
            Misses++;
        }
        var value = await encode().ConfigureAwait(false);
        long bytes = size(value);
        lock (_lock)
        {
            if (bytes > MaxBytes || _map.ContainsKey(key)) return value;
            _map[key] = _lru.AddFirst((key, value, bytes));
            _bytes += bytes;
            while (_map.Count > MaxEntries || _bytes > MaxBytes)
            {
                var last = _lru.Last!;
                _lru.RemoveLast();
                _map.Remove(last.Value.Key);
                _bytes -= last.Value.Bytes;
            }
        }
        return value;
    }

    public void Clear()
    {
        lock (_lock) { _map.Clear(); _lru.Clear(); _bytes = 0; }
    }
}
