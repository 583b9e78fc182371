using System.Globalization;
using System.Text;

namespace Sd3Mesh.Models.Tokenizers;

/// <summary>
/// A token added to a tokenizer's vocabulary (tokenizer.json's added_tokens, tokenizer_config.json's
/// added_tokens_decoder, the special tokens of the config). It is cut out of the text before normalization
/// (normalized: false, matched in the raw text) or after it (normalized: true, matched in the normalized
/// pieces); single_word requires no word character on either side; lstrip/rstrip take the whitespace on that
/// side with it.
/// </summary>
public sealed record AddedToken(string Content, bool Special, bool Normalized, bool SingleWord = false, bool LStrip = false, bool RStrip = false)
{
    /// <summary>A special token named by a tokenizer config as a plain string (transformers: AddedToken(t, special=True)).</summary>
    public static AddedToken SpecialFromString(string content) => new(content, Special: true, Normalized: false);
}

/// <summary>
/// Hugging Face tokenizers' AddedVocabulary: ids for the added tokens and the split of a text around them,
/// leftmost-longest, first the non-normalized ones in the raw text, then the normalized ones in each
/// normalized piece (their content normalized the same way).
/// </summary>
public sealed class AddedVocabulary
{
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly Dictionary<int, AddedToken> _tokens = new();
    private Matcher _raw = new([]);
    private Matcher _normalized = new([]);

    public static AddedVocabulary For(IEnumerable<AddedToken> tokens, ITokenModel model, INormalizer? normalizer)
    {
        var vocabulary = new AddedVocabulary();
        vocabulary.Add(tokens, model, normalizer);
        return vocabulary;
    }

    public IReadOnlyDictionary<int, AddedToken> Tokens => _tokens;
    public int? TokenToId(string token, ITokenModel model) => IdOf(token) ?? model.TokenToId(token);
    public int? IdOf(string content) => _ids.TryGetValue(content, out int id) ? id : null;
    public bool IsSpecial(int id) => _tokens.TryGetValue(id, out var t) && t.Special;

    /// <summary>
    /// Adds tokens as tokenizers' add_tokens does: a content already added keeps its id (the new flags win),
    /// else the model's id, else the next id after the model's vocabulary and the added ids (the ids a
    /// tokenizer.json lists are not read: tokenizers derives them the same way).
    /// </summary>
    public void Add(IEnumerable<AddedToken> tokens, ITokenModel model, INormalizer? normalizer)
    {
        foreach (var token in tokens)
        {
            if (token.Content.Length == 0) continue;
            int id = IdOf(token.Content) ?? model.TokenToId(token.Content) ?? NextId(model);
            _ids[token.Content] = id;
            _tokens[id] = token;
        }
        Refresh(normalizer);
    }

    private int NextId(ITokenModel model)
    {
        int size = model.VocabularySize;
        if (_tokens.Count == 0) return size;
        int max = _tokens.Keys.Max();
        return max >= size || size == 0 ? max + 1 : size;
    }

    private void Refresh(INormalizer? normalizer)
    {
        var raw = new List<(int[] Chars, int Id)>();
        var normalized = new List<(int[] Chars, int Id)>();
        foreach (var (id, t) in _tokens)
        {
            if (_ids.GetValueOrDefault(t.Content, -1) != id) continue; // superseded by a later id for the same content
            if (!t.Normalized) raw.Add((NormalizedText.Runes(t.Content), id));
            else
            {
                var content = normalizer is null ? NormalizedText.From(t.Content) : normalizer.Normalize(NormalizedText.From(t.Content));
                normalized.Add((content.Chars.ToArray(), id));
            }
        }
        _raw = new Matcher(raw);
        _normalized = new Matcher(normalized);
    }

    /// <summary>The text as pieces to tokenize and added-token ids, in order (empty pieces dropped).</summary>
    public List<(NormalizedText? Text, int Id)> Split(string text, INormalizer? normalizer)
    {
        var result = new List<(NormalizedText?, int)>();
        foreach (var (piece, id) in SplitOne(NormalizedText.From(text), _raw))
        {
            if (piece is null) { result.Add((null, id)); continue; }
            var normalizedPiece = normalizer is null ? piece : normalizer.Normalize(piece);
            foreach (var (inner, innerId) in SplitOne(normalizedPiece, _normalized))
                if (inner is null || !inner.IsEmpty) result.Add((inner, innerId));
        }
        return result;
    }

    private IEnumerable<(NormalizedText? Text, int Id)> SplitOne(NormalizedText text, Matcher matcher)
    {
        if (text.IsEmpty) yield break;
        var chars = text.Chars.ToArray();
        int offset = 0;
        foreach (var (matchStart, matchEnd, id) in matcher.LeftmostLongest(chars))
        {
            int start = matchStart, stop = matchEnd;
            var token = _tokens[id];
            if (token.SingleWord)
            {
                bool spaceBefore = start == 0 || !IsWordChar(chars[start - 1]);
                bool spaceAfter = stop == chars.Length || !IsWordChar(chars[stop]);
                if (!spaceBefore || !spaceAfter) continue;
            }
            if (token.LStrip)
            {
                int s = start;
                while (s > 0 && StripNormalizer.IsWhitespace(chars[s - 1])) s--;
                start = Math.Max(s, offset);
            }
            if (token.RStrip)
                while (stop < chars.Length && StripNormalizer.IsWhitespace(chars[stop])) stop++;
            if (offset < start) yield return (text.Slice(offset, start - offset), -1);
            yield return (null, id);
            offset = stop;
        }
        if (offset < chars.Length) yield return (text.Slice(offset, chars.Length - offset), -1);
    }

    /// <summary>Rust regex's \w: alphabetic, marks, decimal digits, connector punctuation, joiners.</summary>
    private static bool IsWordChar(int c)
    {
        if (c is 0x200C or 0x200D) return true;
        return Rune.GetUnicodeCategory(new Rune(c)) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.LetterNumber
                or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark
                or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.ConnectorPunctuation => true,
            _ => false,
        };
    }

    /// <summary>Leftmost-longest matching of a set of patterns (the Aho-Corasick semantics tokenizers uses).</summary>
    private sealed class Matcher
    {
        private readonly Dictionary<int, (int[] Chars, int Id)[]> _byFirst;

        public Matcher(List<(int[] Chars, int Id)> patterns) =>
            _byFirst = patterns.Where(p => p.Chars.Length > 0).GroupBy(p => p.Chars[0])
                .ToDictionary(g => g.Key, g => g.OrderByDescending(p => p.Chars.Length).ToArray());

        public IEnumerable<(int Start, int End, int Id)> LeftmostLongest(int[] text)
        {
            if (_byFirst.Count == 0) yield break;
            for (int i = 0; i < text.Length;)
            {
                if (_byFirst.TryGetValue(text[i], out var candidates))
                {
                    bool found = false;
                    foreach (var (chars, id) in candidates)
                    {
                        if (i + chars.Length > text.Length || !text.AsSpan(i, chars.Length).SequenceEqual(chars)) continue;
                        yield return (i, i + chars.Length, id);
                        i += chars.Length;
                        found = true;
                        break;
                    }
                    if (found) continue;
                }
                i++;
            }
        }
    }
}
