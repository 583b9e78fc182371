using System.Collections.Concurrent;
using System.Text;

namespace Sd3Mesh.Models.Tokenizers;

/// <summary>A vocabulary entry of a Unigram model: the piece and its log probability.</summary>
public readonly record struct UnigramPiece(string Piece, double Score);

/// <summary>
/// SentencePiece's Unigram segmentation as Hugging Face tokenizers implements it (encode_optimized): the
/// segmentation of a word's UTF-8 bytes that maximizes the sum of piece scores (float64), every vocabulary
/// piece a candidate. Where no one-character piece starts, an unknown node covers the character with score
/// min_score - 10; runs of unknowns fuse into one unknown token. Ties keep the earlier candidate. Pieces map to
/// ids through a table where a repeated piece has its last id; byte_fallback spells unknowns as &lt;0xNN&gt;.
/// </summary>
public sealed class UnigramModel : ITokenModel
{
    public const double UnknownPenalty = 10.0;

    private readonly UnigramPiece[] _pieces;
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly Dictionary<long, int> _children = new();
    private readonly List<int> _nodePiece = [-1];
    private const int CacheCapacity = 10_000;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    public UnigramModel(IReadOnlyList<UnigramPiece> pieces, int? unkId, bool byteFallback = false)
    {
        if (pieces.Count == 0) throw new InvalidDataException("the Unigram vocabulary is empty");
        if (unkId is { } u && (u < 0 || u >= pieces.Count))
            throw new InvalidDataException($"the Unigram unk_id {u} is outside the vocabulary of {pieces.Count}");
        _pieces = [.. pieces];
        UnkId = unkId;
        ByteFallback = byteFallback;
        double min = double.PositiveInfinity;
        for (int id = 0; id < _pieces.Length; id++)
        {
            _ids[_pieces[id].Piece] = id;
            Insert(_pieces[id].Piece);
            min = Math.Min(min, _pieces[id].Score);
        }
        UnknownScore = min - UnknownPenalty;
    }

    public int? UnkId { get; }
    public bool ByteFallback { get; }
    public double UnknownScore { get; }
    public int VocabularySize => _pieces.Length;
    public IReadOnlyList<UnigramPiece> Pieces => _pieces;

    public int? TokenToId(string token) => _ids.TryGetValue(token, out int id) ? id : null;
    public string? IdToToken(int id) => id >= 0 && id < _pieces.Length ? _pieces[id].Piece : null;

    private void Insert(string piece)
    {
        int node = 0;
        foreach (byte b in Encoding.UTF8.GetBytes(piece))
        {
            long key = ((long)node << 8) | b;
            if (!_children.TryGetValue(key, out int child))
            {
                child = _nodePiece.Count;
                _nodePiece.Add(-1);
                _children[key] = child;
            }
            node = child;
        }
        _nodePiece[node] = 1; // marks the end of a piece; the id comes from the piece table
    }

    public void Tokenize(string word, List<int> ids)
    {
        if (word.Length == 0) return;
        if (!_cache.TryGetValue(word, out var cached))
        {
            cached = Encode(word);
            if (_cache.Count < CacheCapacity) _cache.TryAdd(word, cached); // bounded, as tokenizers' cache is
        }
        ids.AddRange(cached);
    }

    private int[] Encode(string word)
    {
        var bytes = Encoding.UTF8.GetBytes(word);
        int n = bytes.Length;
        var score = new double[n + 1];
        var from = new int[n + 1];
        var isUnk = new bool[n + 1];
        Array.Fill(from, -1);
        for (int start = 0; start < n;)
        {
            int charLength = Utf8Length(bytes[start]);
            double baseScore = score[start];
            bool single = false;
            int node = 0;
            for (int i = start; i < n; i++)
            {
                if (!_children.TryGetValue(((long)node << 8) | bytes[i], out node)) break;
                if (_nodePiece[node] < 0) continue;
                int end = i + 1;
                int id = _ids[Encoding.UTF8.GetString(bytes, start, end - start)];
                Offer(end, baseScore + _pieces[id].Score, start, id == UnkId); // the unknown piece itself fuses too
                if (end - start == charLength) single = true;
            }
            if (!single)
            {
                if (UnkId is null) throw new InvalidDataException("the Unigram model has no unk_id but the text has a character no piece covers");
                Offer(start + charLength, baseScore + UnknownScore, start, true);
            }
            start += charLength;
        }

        // Back from the end; unknown pieces fuse with their unknown neighbours.
        var pieces = new List<(string Text, bool Unk)>();
        for (int end = n; end > 0; end = from[end])
        {
            var text = Encoding.UTF8.GetString(bytes, from[end], end - from[end]);
            if (isUnk[end] && pieces.Count > 0 && pieces[^1].Unk) pieces[^1] = (text + pieces[^1].Text, true);
            else pieces.Add((text, isUnk[end]));
        }
        pieces.Reverse();

        var ids = new List<int>(pieces.Count);
        foreach (var (text, _) in pieces)
        {
            if (_ids.TryGetValue(text, out int id)) { ids.Add(id); continue; }
            if (ByteFallback && ByteTokens(text) is { } byteIds) { ids.AddRange(byteIds); continue; }
            ids.Add(UnkId!.Value);
        }
        return [.. ids];

        void Offer(int end, double candidate, int start, bool unknown)
        {
            if (from[end] < 0 || candidate > score[end])
            {
                score[end] = candidate;
                from[end] = start;
                isUnk[end] = unknown;
            }
        }
    }

    private int[]? ByteTokens(string text)
    {
        var result = new List<int>();
        foreach (byte b in Encoding.UTF8.GetBytes(text))
        {
            if (!_ids.TryGetValue($"<0x{b:X2}>", out int id)) return null;
            result.Add(id);
        }
        return [.. result];
    }

    private static int Utf8Length(byte lead) => lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
}
