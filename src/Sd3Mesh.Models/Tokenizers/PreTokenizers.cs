using System.Text;

namespace Sd3Mesh.Models.Tokenizers;

/// <summary>A pre-tokenizer of a Hugging Face pipeline (tokenizer.json's "pre_tokenizer"): splits a piece into words.</summary>
public interface IPreTokenizer
{
    /// <summary>The words of one piece (empty words are dropped by the caller).</summary>
    IEnumerable<NormalizedText> Split(NormalizedText piece);
}

/// <summary>What a split keeps of the delimiters it finds (tokenizers' SplitDelimiterBehavior).</summary>
public enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>tokenizers' NormalizedString::split: pattern matches turned into pieces by a behaviour.</summary>
public static class Splitting
{
    /// <summary>The text cut into alternating non-matches and matches, [start, end) with a match flag.</summary>
    public static List<(int Start, int End, bool Match)> FromRegex(CodePointRegex regex, ReadOnlySpan<int> chars)
    {
        var spans = new List<(int, int, bool)>();
        if (chars.IsEmpty) { spans.Add((0, 0, false)); return spans; }
        int prev = 0;
        foreach (var (start, end) in regex.Matches(chars))
        {
            if (prev != start) spans.Add((prev, start, false));
            spans.Add((start, end, true));
            prev = end;
        }
        if (prev != chars.Length) spans.Add((prev, chars.Length, false));
        return spans;
    }

    public static List<(int Start, int End, bool Match)> FromPredicate(Func<int, bool> isDelimiter, ReadOnlySpan<int> chars)
    {
        var spans = new List<(int, int, bool)>();
        if (chars.IsEmpty) { spans.Add((0, 0, false)); return spans; }
        int last = 0;
        for (int i = 0; i < chars.Length; i++)
        {
            if (!isDelimiter(chars[i])) continue;
            if (last < i) spans.Add((last, i, false));
            spans.Add((i, i + 1, true));
            last = i + 1;
        }
        if (last < chars.Length) spans.Add((last, chars.Length, false));
        return spans;
    }

    public static IEnumerable<NormalizedText> Apply(NormalizedText text, List<(int Start, int End, bool Match)> spans, SplitBehavior behavior, bool invert = false)
    {
        if (invert) spans = spans.Select(s => (s.Start, s.End, !s.Match)).ToList();
        var kept = new List<(int Start, int End, bool Remove)>();
        switch (behavior)
        {
            case SplitBehavior.Removed:
                kept.AddRange(spans);
                break;
            case SplitBehavior.Isolated:
                kept.AddRange(spans.Select(s => (s.Start, s.End, false)));
                break;
            case SplitBehavior.Contiguous:
            {
                bool previous = false;
                foreach (var s in spans)
                {
                    if (s.Match == previous && kept.Count > 0) kept[^1] = (kept[^1].Start, s.End, false);
                    else kept.Add((s.Start, s.End, false));
                    previous = s.Match;
                }
                break;
            }
            case SplitBehavior.MergedWithPrevious:
            {
                bool previous = false;
                foreach (var s in spans)
                {
                    if (s.Match && !previous && kept.Count > 0) kept[^1] = (kept[^1].Start, s.End, false);
                    else kept.Add((s.Start, s.End, false));
                    previous = s.Match;
                }
                break;
            }
            case SplitBehavior.MergedWithNext:
            {
                bool previous = false;
                for (int i = spans.Count - 1; i >= 0; i--)
                {
                    var s = spans[i];
                    if (s.Match && !previous && kept.Count > 0) kept[^1] = (s.Start, kept[^1].End, false);
                    else kept.Add((s.Start, s.End, false));
                    previous = s.Match;
                }
                kept.Reverse();
                break;
            }
        }
        foreach (var (start, end, remove) in kept)
            if (!remove && end > start) yield return text.Slice(start, end - start);
    }
}

/// <summary>"Sequence": each pre-tokenizer over every word of the previous one.</summary>
public sealed record SequencePreTokenizer(IReadOnlyList<IPreTokenizer> PreTokenizers) : IPreTokenizer
{
    public IEnumerable<NormalizedText> Split(NormalizedText piece)
    {
        IEnumerable<NormalizedText> words = [piece];
        foreach (var p in PreTokenizers) words = words.SelectMany(p.Split).Where(w => !w.IsEmpty).ToList();
        return words;
    }
}

/// <summary>"WhitespaceSplit": words between runs of whitespace (Rust's char::is_whitespace).</summary>
public sealed record WhitespaceSplitPreTokenizer : IPreTokenizer
{
    public IEnumerable<NormalizedText> Split(NormalizedText piece) =>
        Splitting.Apply(piece, Splitting.FromPredicate(StripNormalizer.IsWhitespace, piece.Chars), SplitBehavior.Removed);
}

/// <summary>How Metaspace puts a replacement character in front of a piece.</summary>
public enum PrependScheme { Always, First, Never }

/// <summary>
/// "Metaspace" (SentencePiece's word boundary): spaces become the replacement ("▁"); the replacement is put in
/// front of a piece that does not start with it (always, or only for the piece at the text's start), and with
/// split the piece is cut before each replacement.
/// </summary>
public sealed record MetaspacePreTokenizer(int Replacement, PrependScheme Prepend, bool SplitWords) : IPreTokenizer
{
    public IEnumerable<NormalizedText> Split(NormalizedText piece)
    {
        var b = new NormalizedText.Builder(piece.Length + 1);
        bool startsWithReplacement = piece.Length > 0 && (piece[0] == ' ' || piece[0] == Replacement);
        bool prepend = Prepend switch
        {
            PrependScheme.Always => !startsWithReplacement,
            PrependScheme.First => !startsWithReplacement && piece.StartsAtOriginalStart,
            _ => false,
        };
        if (prepend && piece.Length > 0) b.Add(Replacement, piece.Origins[0]);
        for (int i = 0; i < piece.Length; i++) b.Add(piece[i] == ' ' ? Replacement : piece[i], piece.Origins[i]);
        var text = b.Build();
        if (!SplitWords) return [text];
        return Splitting.Apply(text, Splitting.FromPredicate(c => c == Replacement, text.Chars), SplitBehavior.MergedWithNext);
    }
}

/// <summary>
/// "ByteLevel" (GPT-2): optionally a space in front, optionally GPT-2's word pattern (isolating each match),
/// then every UTF-8 byte written as its printable stand-in (<see cref="ByteLevelAlphabet"/>).
/// </summary>
public sealed record ByteLevelPreTokenizer(bool AddPrefixSpace, bool UseRegex) : IPreTokenizer
{
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    private static readonly CodePointRegex Gpt2 = new(Gpt2Pattern);

    public IEnumerable<NormalizedText> Split(NormalizedText piece)
    {
        if (AddPrefixSpace && piece.Length > 0 && piece[0] != ' ')
        {
            var b = new NormalizedText.Builder(piece.Length + 1);
            b.Add(' ', piece.Origins[0]);
            for (int i = 0; i < piece.Length; i++) b.Add(piece[i], piece.Origins[i]);
            piece = b.Build();
        }
        var words = UseRegex ? Splitting.Apply(piece, Splitting.FromRegex(Gpt2, piece.Chars), SplitBehavior.Isolated) : [piece];
        return words.Select(ToBytes);
    }

    private static NormalizedText ToBytes(NormalizedText word)
    {
        var b = new NormalizedText.Builder(word.Length * 2);
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i < word.Length; i++)
        {
            int n = new Rune(word[i]).EncodeToUtf8(utf8);
            for (int k = 0; k < n; k++) b.Add(ByteLevelAlphabet.ToChar(utf8[k]), word.Origins[i]);
        }
        return b.Build();
    }
}

/// <summary>"Split": a literal or regular-expression pattern, its matches (or, inverted, the rest) split off by a behaviour.</summary>
public sealed record SplitPreTokenizer(CodePointRegex Pattern, SplitBehavior Behavior, bool Invert) : IPreTokenizer
{
    public IEnumerable<NormalizedText> Split(NormalizedText piece) =>
        Splitting.Apply(piece, Splitting.FromRegex(Pattern, piece.Chars), Behavior, Invert);
}
