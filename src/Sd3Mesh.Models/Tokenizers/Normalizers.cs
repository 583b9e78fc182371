using System.Globalization;
using System.Text;

namespace Sd3Mesh.Models.Tokenizers;

/// <summary>A normalizer of a Hugging Face tokenizer pipeline (tokenizer.json's "normalizer").</summary>
public interface INormalizer
{
    NormalizedText Normalize(NormalizedText text);
}

/// <summary>"NFC", "NFD", "NFKC", "NFKD".</summary>
public sealed record UnicodeFormNormalizer(UnicodeForm Form) : INormalizer
{
    public NormalizedText Normalize(NormalizedText text) => UnicodeNormalizer.Normalize(text, Form);
}

/// <summary>"Sequence": each normalizer in turn.</summary>
public sealed record SequenceNormalizer(IReadOnlyList<INormalizer> Normalizers) : INormalizer
{
    public NormalizedText Normalize(NormalizedText text)
    {
        foreach (var n in Normalizers) text = n.Normalize(text);
        return text;
    }
}

/// <summary>
/// "Lowercase": Rust's char::to_lowercase per character, i.e. Unicode's full lower-case mapping without
/// context. It differs from the simple mapping only for U+0130 (İ -> i + U+0307), which .NET's invariant
/// lower-casing leaves unchanged, so that one is mapped here; so are the 28 capitals Unicode 17 added
/// (U+A7CE, U+A7D2, U+A7D4, U+16EA0..U+16EB8), which tokenizers 0.23 knows and .NET 10 does not yet.
/// </summary>
public sealed record LowercaseNormalizer : INormalizer
{
    private static int Lower(int c) => c switch
    {
        0xA7CE or 0xA7D2 or 0xA7D4 => c + 1,
        >= 0x16EA0 and <= 0x16EB8 => c + 0x1B,
        _ => Rune.ToLowerInvariant(new Rune(c)).Value,
    };

    public NormalizedText Normalize(NormalizedText text)
    {
        var b = new NormalizedText.Builder(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            int c = text[i];
            if (c == 0x130) { b.Add('i', text.Origins[i]); b.Add(0x307, text.Origins[i]); }
            else b.Add(Lower(c), text.Origins[i]);
        }
        return b.Build();
    }
}

/// <summary>"Strip": whitespace (Unicode White_Space) removed from the left and/or right.</summary>
public sealed record StripNormalizer(bool Left, bool Right) : INormalizer
{
    public NormalizedText Normalize(NormalizedText text)
    {
        int start = 0, end = text.Length;
        if (Left) while (start < end && IsWhitespace(text[start])) start++;
        if (Right) while (end > start && IsWhitespace(text[end - 1])) end--;
        return start == 0 && end == text.Length ? text : text.Slice(start, end - start);
    }

    /// <summary>Rust's char::is_whitespace: the White_Space property, which .NET's IsWhiteSpace implements.</summary>
    public static bool IsWhitespace(int c) => Rune.IsWhiteSpace(new Rune(c));
}

/// <summary>"StripAccents": combining marks (general category M) removed.</summary>
public sealed record StripAccentsNormalizer : INormalizer
{
    public NormalizedText Normalize(NormalizedText text)
    {
        var b = new NormalizedText.Builder(text.Length);
        for (int i = 0; i < text.Length; i++)
            if (Rune.GetUnicodeCategory(new Rune(text[i])) is not (UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark))
                b.Add(text[i], text.Origins[i]);
        return b.Build();
    }
}

/// <summary>"Prepend": a string put in front of non-empty text.</summary>
public sealed record PrependNormalizer(string Prefix) : INormalizer
{
    public NormalizedText Normalize(NormalizedText text)
    {
        if (text.IsEmpty) return text;
        var b = new NormalizedText.Builder(text.Length + Prefix.Length);
        b.Add(Prefix, text.Origins[0]);
        for (int i = 0; i < text.Length; i++) b.Add(text[i], text.Origins[i]);
        return b.Build();
    }
}

/// <summary>"Replace": every match of a literal or regular-expression pattern replaced by a string.</summary>
public sealed class ReplaceNormalizer(CodePointRegex pattern, string content) : INormalizer
{
    public CodePointRegex Pattern { get; } = pattern;
    public string Content { get; } = content;

    public NormalizedText Normalize(NormalizedText text)
    {
        var matches = Pattern.Matches(text.Chars);
        if (matches.Count == 0) return text;
        var b = new NormalizedText.Builder(text.Length);
        int at = 0;
        foreach (var (start, end) in matches)
        {
            for (; at < start; at++) b.Add(text[at], text.Origins[at]);
            // The replacement takes the origin of the first replaced character (an empty match: of the next one).
            int origin = start < text.Length ? text.Origins[start] : text.Length == 0 ? 0 : text.Origins[^1];
            b.Add(Content, origin);
            at = end;
        }
        for (; at < text.Length; at++) b.Add(text[at], text.Origins[at]);
        return b.Build();
    }
}
