using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Sd3Mesh.Models.Tokenizers;

/// <summary>
/// A regular expression of a tokenizer.json (Oniguruma syntax in Hugging Face tokenizers) matched over Unicode
/// scalar values. .NET's Regex works on UTF-16 code units, so \p{L} would not match a letter outside the BMP
/// (its surrogates are category Cs). Each such character is therefore matched as a stand-in: one BMP character
/// of the same general category that patterns do not name, so category classes (\p{..}, \w, \s, \d) treat it
/// as Oniguruma treats the original, and match positions count scalar values.
/// </summary>
public sealed class CodePointRegex
{
    private readonly Regex _regex;

    public CodePointRegex(string pattern, bool literal = false)
    {
        Pattern = pattern;
        try
        {
            _regex = new Regex(literal ? Regex.Escape(pattern) : pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(5));
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"regular expression '{pattern}' is not supported: {e.Message}", e);
        }
    }

    public string Pattern { get; }

    /// <summary>Non-overlapping matches, left to right, as [start, end) in scalar values (empty matches included).</summary>
    public List<(int Start, int End)> Matches(ReadOnlySpan<int> chars)
    {
        var sb = new StringBuilder(chars.Length);
        foreach (int c in chars) sb.Append(c < 0x10000 ? (char)c : StandIn(c));
        var result = new List<(int, int)>();
        for (var m = _regex.Match(sb.ToString()); m.Success; m = m.NextMatch()) result.Add((m.Index, m.Index + m.Length));
        return result;
    }

    /// <summary>A BMP character of the same general category as <paramref name="c"/> (outside the BMP).</summary>
    private static char StandIn(int c) => Rune.GetUnicodeCategory(new Rune(c)) switch
    {
        UnicodeCategory.UppercaseLetter => '\uA7B4',
        UnicodeCategory.LowercaseLetter => '\uA7B5',
        UnicodeCategory.TitlecaseLetter => '\u1F88',
        UnicodeCategory.ModifierLetter => '\uA9CF',
        UnicodeCategory.OtherLetter => '\uA840',
        UnicodeCategory.NonSpacingMark => '\uA8E0',
        UnicodeCategory.SpacingCombiningMark => '\uA8B4',
        UnicodeCategory.EnclosingMark => '\uA670',
        UnicodeCategory.DecimalDigitNumber => '\uA9D0',
        UnicodeCategory.LetterNumber => '\uA6E6',
        UnicodeCategory.OtherNumber => '\uA830',
        UnicodeCategory.ConnectorPunctuation => '\uFE4D',
        UnicodeCategory.DashPunctuation => '\u2E3A',
        UnicodeCategory.OpenPunctuation => '\u2E28',
        UnicodeCategory.ClosePunctuation => '\u2E29',
        UnicodeCategory.InitialQuotePunctuation => '\u2E1C',
        UnicodeCategory.FinalQuotePunctuation => '\u2E1D',
        UnicodeCategory.OtherPunctuation => '\uA8F8',
        UnicodeCategory.MathSymbol => '\u2A00',
        UnicodeCategory.CurrencySymbol => '\uA838',
        UnicodeCategory.ModifierSymbol => '\uA720',
        UnicodeCategory.OtherSymbol => '\uA836',
        UnicodeCategory.PrivateUse => '\uE000',
        UnicodeCategory.Format => '\u2064',
        UnicodeCategory.SpaceSeparator => '\u205F',
        _ => '\u0378', // unassigned
    };
}
