using System.Collections.Concurrent;
using System.Text;

namespace Sd3Mesh.Models.Tokenizers;

/// <summary>
/// Byte-pair encoding as Hugging Face tokenizers' BPE model does it: a word starts as its characters (the
/// continuing-subword prefix on all but the first, the end-of-word suffix on the last), characters missing
/// from the vocabulary become bytes (byte_fallback), the unknown token (fused when fuse_unk) or nothing;
/// then the lowest-ranked adjacent pair is merged, leftmost first, until no ranked pair is left.
/// </summary>
public sealed class BpeModel : ITokenModel
{
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<int, string> _vocabR = new();
    private readonly Dictionary<(int, int), (int Rank, int NewId)> _merges = new();
    private const int CacheCapacity = 10_000;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    public BpeModel(IReadOnlyDictionary<string, int> vocab, IEnumerable<(string Left, string Right)> merges, string? unkToken = null,
        string? continuingSubwordPrefix = null, string? endOfWordSuffix = null, bool fuseUnk = false, bool byteFallback = false,
        bool ignoreMerges = false)
    {
        _vocab = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        foreach (var (token, id) in _vocab) _vocabR[id] = token;
        UnkToken = unkToken;
        Prefix = continuingSubwordPrefix;
        Suffix = endOfWordSuffix;
        FuseUnk = fuseUnk;
        ByteFallback = byteFallback;
        IgnoreMerges = ignoreMerges;
        int prefixLength = Prefix?.Length ?? 0;
        int rank = 0;
        foreach (var (left, right) in merges)
        {
            int a = Id(left), b = Id(right);
            string merged = left + (right.Length >= prefixLength ? right[prefixLength..] : "");
            _merges[(a, b)] = (rank++, Id(merged)); // a repeated pair keeps its last rank, as tokenizers' map does
        }
        if (UnkToken is not null && !_vocab.ContainsKey(UnkToken))
            throw new InvalidDataException($"the BPE unk_token '{UnkToken}' is not in the vocabulary");

        int Id(string token) => _vocab.TryGetValue(token, out int id) ? id
            : throw new InvalidDataException($"the BPE merge token '{token}' is not in the vocabulary");
    }

    public string? UnkToken { get; }
    public string? Prefix { get; }
    public string? Suffix { get; }
    public bool FuseUnk { get; }
    public bool ByteFallback { get; }
    public bool IgnoreMerges { get; }
    public int VocabularySize => _vocab.Count;

    public int? TokenToId(string token) => _vocab.TryGetValue(token, out int id) ? id : null;
    public string? IdToToken(int id) => _vocabR.GetValueOrDefault(id);

    public void Tokenize(string word, List<int> ids)
    {
        if (word.Length == 0) return;
        if (IgnoreMerges && _vocab.TryGetValue(word, out int whole)) { ids.Add(whole); return; }
        if (!_cache.TryGetValue(word, out var cached))
        {
            cached = Merge(word);
            if (_cache.Count < CacheCapacity) _cache.TryAdd(word, cached); // bounded, as tokenizers' cache is
        }
        ids.AddRange(cached);
    }

    private int[] Merge(string word)
    {
        var symbols = new List<int>(word.Length);
        var runes = word.EnumerateRunes().ToArray();
        int? unk = null;
        for (int i = 0; i < runes.Length; i++)
        {
            var s = runes[i].ToString();
            if (i > 0 && Prefix is not null) s = Prefix + s;
            if (i == runes.Length - 1 && Suffix is not null) s += Suffix;
            if (_vocab.TryGetValue(s, out int id))
            {
                if (unk is { } u) { symbols.Add(u); unk = null; }
                symbols.Add(id);
                continue;
            }
            if (ByteFallback && ByteTokens(s) is { } bytes)
            {
                symbols.AddRange(bytes); // tokenizers adds them without flushing a pending unknown
                continue;
            }
            if (UnkToken is null) continue; // no unknown token: the character is dropped
            int unkId = _vocab[UnkToken];
            if (unk is { } pending && !FuseUnk) symbols.Add(pending);
            unk = unkId;
        }
        if (unk is { } last) symbols.Add(last);
        return MergeAll(symbols);
    }

    private int[]? ByteTokens(string s)
    {
        var result = new List<int>();
        foreach (byte b in Encoding.UTF8.GetBytes(s))
        {
            if (!_vocab.TryGetValue($"<0x{b:X2}>", out int id)) return null;
            result.Add(id);
        }
        return [.. result];
    }

    /// <summary>tokenizers' Word::merge_all: a queue of (rank, position), lowest first; stale entries skipped.</summary>
    private int[] MergeAll(List<int> symbols)
    {
        int n = symbols.Count;
        var ids = symbols.ToArray();
        var prev = new int[n];
        var next = new int[n];
        var alive = new bool[n];
        for (int i = 0; i < n; i++) { prev[i] = i - 1; next[i] = i + 1 < n ? i + 1 : -1; alive[i] = true; }
        var queue = new PriorityQueue<(int Pos, int NewId), (int Rank, int Pos)>();
        for (int i = 0; i + 1 < n; i++)
            if (_merges.TryGetValue((ids[i], ids[i + 1]), out var m)) queue.Enqueue((i, m.NewId), (m.Rank, i));

        while (queue.TryDequeue(out var top, out _))
        {
            int pos = top.Pos;
            if (!alive[pos] || next[pos] < 0) continue;
            int right = next[pos];
            if (!_merges.TryGetValue((ids[pos], ids[right]), out var current) || current.NewId != top.NewId) continue;
            ids[pos] = top.NewId;
            alive[right] = false;
            next[pos] = next[right];
            if (next[right] >= 0) prev[next[right]] = pos;
            if (prev[pos] >= 0 && _merges.TryGetValue((ids[prev[pos]], ids[pos]), out var left))
                queue.Enqueue((prev[pos], left.NewId), (left.Rank, prev[pos]));
            if (next[pos] >= 0 && _merges.TryGetValue((ids[pos], ids[next[pos]]), out var after))
                queue.Enqueue((pos, after.NewId), (after.Rank, pos));
        }
        var result = new List<int>(n);
        for (int i = 0; i < n; i++) if (alive[i]) result.Add(ids[i]);
        return [.. result];
    }
}
