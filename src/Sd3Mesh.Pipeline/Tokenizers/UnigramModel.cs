using System.Text;

namespace Sd3Mesh.Pipeline.Tokenizers;

/// <summary>The kinds of SentencePiece pieces (values as in sentencepiece_model.proto).</summary>
public enum PieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>A vocabulary entry of a Unigram model.</summary>
public readonly record struct UnigramPiece(string Piece, float Score, PieceType Type);

/// <summary>
/// SentencePiece's Unigram language model segmentation (unigram_model.cc): the segmentation of a
/// normalized text that maximizes the sum of piece scores (Viterbi). Only NORMAL, USER_DEFINED and
/// UNUSED pieces can be matched (UNUSED ones are then skipped); USER_DEFINED pieces score
/// length*max_score + 1 so they always win. Where no single-character piece starts, an &lt;unk&gt; node
/// covers one character with score min_score - 10 (kUnkPenalty). Ties keep the path whose last piece
/// starts earliest, as both SentencePiece and Hugging Face tokenizers do; consecutive unknowns fuse into
/// one &lt;unk&gt; (SentencePiece's encoder and tokenizers' fuse_unk).
/// </summary>
public sealed class UnigramModel
{
    public const float UnknownPenalty = 10.0f;

    private readonly UnigramPiece[] _pieces;
    private readonly Dictionary<long, int> _children = new();
    private readonly List<int> _nodePiece = [-1];
    private readonly Dictionary<string, int> _pieceToId = new(StringComparer.Ordinal);
    private readonly float _maxScore;

    public UnigramModel(IReadOnlyList<UnigramPiece> pieces, int unkId)
    {
        if (unkId < 0 || unkId >= pieces.Count) throw new InvalidDataException($"unk id {unkId} is outside the vocabulary of {pieces.Count}");
        _pieces = pieces.ToArray();
        UnkId = unkId;
        float min = float.MaxValue, max = float.MinValue;
        bool anyNormal = false;
        for (int id = 0; id < _pieces.Length; id++)
        {
            var p = _pieces[id];
            _pieceToId.TryAdd(p.Piece, id);
            if (p.Type == PieceType.Normal) { min = Math.Min(min, p.Score); max = Math.Max(max, p.Score); anyNormal = true; }
            if (p.Type is PieceType.Normal or PieceType.UserDefined or PieceType.Unused && p.Piece.Length > 0) Insert(p.Piece, id);
        }
        if (!anyNormal) throw new InvalidDataException("the Unigram vocabulary has no normal pieces");
        UnknownScore = min - UnknownPenalty;
        _maxScore = max;
    }

    public int UnkId { get; }
    public int Count => _pieces.Length;
    public float UnknownScore { get; }
    public UnigramPiece this[int id] => _pieces[id];

    public int? IdOf(string piece) => _pieceToId.TryGetValue(piece, out int id) ? id : null;

    private void Insert(string piece, int id)
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
        if (_nodePiece[node] < 0) _nodePiece[node] = id; // the first id of a duplicated piece wins
    }

    /// <summary>Best segmentation of a normalized UTF-8 text, as piece ids.</summary>
    public List<int> Encode(ReadOnlySpan<byte> normalized)
    {
        int n = normalized.Length;
        var bestScore = new double[n + 1];
        var bestStart = new int[n + 1];
        var bestId = new int[n + 1];
        Array.Fill(bestStart, -1);
        bestStart[0] = 0;

        int start = 0;
        while (start < n)
        {
            int charLength = SentencePieceNormalizer.Utf8CharLength(normalized[start..]);
            if (charLength == 0) charLength = 1;
            if (bestStart[start] < 0 && start > 0) { start += charLength; continue; }
            double baseScore = bestScore[start];
            bool hasSingleChar = false;

            int node = 0;
            for (int i = start; i < n; i++)
            {
                if (!_children.TryGetValue(((long)node << 8) | normalized[i], out node)) break;
                int id = _nodePiece[node];
                if (id < 0) continue;
                var piece = _pieces[id];
                if (piece.Type == PieceType.Unused) continue;
                int end = i + 1;
                int lengthInChars = piece.Type == PieceType.UserDefined ? CountChars(normalized[start..end]) : 0;
                double score = piece.Type == PieceType.UserDefined ? lengthInChars * _maxScore + 1.0 : piece.Score;
                if (end - start == charLength) hasSingleChar = true;
                Offer(end, baseScore + score, start, id);
            }
            if (!hasSingleChar) Offer(start + charLength, baseScore + UnknownScore, start, UnkId);
            start += charLength;
        }

        var ids = new List<int>();
        for (int end = n; end > 0; end = bestStart[end]) ids.Add(bestId[end]);
        ids.Reverse();

        // Fuse runs of unknowns into one.
        var fused = new List<int>(ids.Count);
        foreach (var id in ids)
            if (!(id == UnkId && fused.Count > 0 && fused[^1] == UnkId)) fused.Add(id);
        return fused;

        void Offer(int end, double score, int from, int id)
        {
            // Scores add in float as SentencePiece does; ties keep the earlier-starting last piece.
            float s = (float)score;
            if (bestStart[end] < 0 || s > (float)bestScore[end])
            {
                bestScore[end] = s;
                bestStart[end] = from;
                bestId[end] = id;
            }
        }
    }

    private static int CountChars(ReadOnlySpan<byte> s)
    {
        int count = 0;
        for (int i = 0; i < s.Length; count++)
        {
            int l = SentencePieceNormalizer.Utf8CharLength(s[i..]);
            i += l == 0 ? 1 : l;
        }
        return count;
    }
}
