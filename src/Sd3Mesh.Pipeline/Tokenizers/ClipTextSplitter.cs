using System.Globalization;
using System.Text;

namespace Sd3Mesh.Pipeline.Tokenizers;

/// <summary>
/// CLIP's text clean-up and word splitting, as transformers' slow CLIPTokenizer does it when ftfy is not
/// installed (its BasicTokenizer with strip_accents=False, do_split_on_punc=False), followed by CLIP's
/// pattern <c>&lt;\|startoftext\|&gt;|&lt;\|endoftext\|&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+</c>:
/// <list type="number">
/// <item>drop NUL, U+FFFD and control/format characters (Unicode category C*, except \t \n \r); every
/// whitespace character becomes a space;</item>
/// <item>put spaces around CJK ideographs (each becomes its own word);</item>
/// <item>split on whitespace and lower-case each word;</item>
/// <item>match the pattern over the words joined by single spaces (a hand-written scanner over Unicode
/// scalar values, so letters outside the BMP count as letters as they do in Python).</item>
/// </list>
/// Differences from Python, documented: NFC composition is not applied (the runtime runs with invariant
/// globalization, where string.Normalize is a no-op), and lower-casing uses .NET's invariant simple case
/// mapping (Python's full mapping differs for a few characters such as 'İ' and a final 'Σ').
/// Special tokens (&lt;|startoftext|&gt;, &lt;|endoftext|&gt;) in the text are split off first and kept whole.
/// </summary>
public static class ClipTextSplitter
{
    private static readonly string[] Contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

    public static List<string> Split(string text, IReadOnlyList<string> specialTokens)
    {
        var words = new List<string>();
        foreach (var (segment, isSpecial) in SplitOnSpecialTokens(text, specialTokens))
        {
            if (isSpecial) { words.Add(segment); continue; }
            Scan(Clean(segment), words);
        }
        return words;
    }

    /// <summary>Steps 1-3: cleaned, CJK-spaced, whitespace-normalized, lower-cased text.</summary>
    public static string Clean(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            int cp = rune.Value;
            if (cp == 0 || cp == 0xFFFD || IsControl(rune)) continue;
            if (IsWhitespace(rune)) { sb.Append(' '); continue; }
            if (IsCjk(cp)) { sb.Append(' ').Append(rune.ToString()).Append(' '); continue; }
            sb.Append(rune.ToString());
        }
        var parts = sb.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < parts.Length; i++) parts[i] = parts[i].ToLowerInvariant();
        return string.Join(' ', parts);
    }

    private static void Scan(string text, List<string> words)
    {
        var runes = text.EnumerateRunes().ToArray();
        int i = 0;
        while (i < runes.Length)
        {
            var r = runes[i];
            if (r.Value == '\'' && TryContraction(runes, i, out int len))
            {
                words.Add(Join(runes, i, len));
                i += len;
            }
            else if (Rune.IsLetter(r))
            {
                int j = i;
                while (j < runes.Length && Rune.IsLetter(runes[j])) j++;
                words.Add(Join(runes, i, j - i));
                i = j;
            }
            else if (Rune.IsNumber(r))
            {
                words.Add(r.ToString());
                i++;
            }
            else if (!Rune.IsWhiteSpace(r))
            {
                int j = i;
                while (j < runes.Length && !Rune.IsWhiteSpace(runes[j]) && !Rune.IsLetter(runes[j]) && !Rune.IsNumber(runes[j])) j++;
                words.Add(Join(runes, i, j - i));
                i = j;
            }
            else i++;
        }
    }

    private static bool TryContraction(Rune[] runes, int start, out int length)
    {
        foreach (var c in Contractions)
        {
            if (start + c.Length > runes.Length) continue;
            bool match = true;
            for (int k = 0; k < c.Length && match; k++)
                match = Rune.ToLowerInvariant(runes[start + k]).Value == c[k];
            if (match) { length = c.Length; return true; }
        }
        length = 0;
        return false;
    }

    private static string Join(Rune[] runes, int start, int count)
    {
        var sb = new StringBuilder(count * 2);
        for (int k = start; k < start + count; k++) sb.Append(runes[k].ToString());
        return sb.ToString();
    }

    private static IEnumerable<(string Segment, bool IsSpecial)> SplitOnSpecialTokens(string text, IReadOnlyList<string> specials)
    {
        int start = 0;
        while (start < text.Length)
        {
            int best = -1;
            string? token = null;
            foreach (var s in specials)
            {
                int at = text.IndexOf(s, start, StringComparison.Ordinal);
                if (at >= 0 && (best < 0 || at < best || (at == best && s.Length > token!.Length))) { best = at; token = s; }
            }
            if (best < 0) { yield return (text[start..], false); yield break; }
            if (best > start) yield return (text[start..best], false);
            yield return (token!, true);
            start = best + token!.Length;
        }
    }

    private static bool IsControl(Rune r)
    {
        if (r.Value is '\t' or '\n' or '\r') return false;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;
    }

    private static bool IsWhitespace(Rune r) =>
        r.Value is ' ' or '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(r) == UnicodeCategory.SpaceSeparator;

    private static bool IsCjk(int cp) =>
        (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF)
        || (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF)
        || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}
