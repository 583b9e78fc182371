using System.Text;

namespace Sd3Mesh.Models.Tokenizers;

/// <summary>
/// A piece of text on its way through a tokenizer pipeline: its Unicode scalar values, and for each the index
/// of the character of the original text it came from (Hugging Face tokenizers' NormalizedString keeps the
/// same alignment; Metaspace's prepend_scheme "first" asks whether a piece starts at the original's start).
/// </summary>
public sealed class NormalizedText
{
    private readonly int[] _chars;
    private readonly int[] _origins;

    public NormalizedText(int[] chars, int[] origins)
    {
        if (chars.Length != origins.Length) throw new ArgumentException("every character needs an origin", nameof(origins));
        _chars = chars;
        _origins = origins;
    }

    /// <summary>Text whose characters originate at <paramref name="firstOrigin"/>, +1, +2, ...</summary>
    public static NormalizedText From(string text, int firstOrigin = 0)
    {
        var chars = Runes(text);
        var origins = new int[chars.Length];
        for (int i = 0; i < origins.Length; i++) origins[i] = firstOrigin + i;
        return new NormalizedText(chars, origins);
    }

    public static int[] Runes(string text)
    {
        var list = new List<int>(text.Length);
        foreach (var r in text.EnumerateRunes()) list.Add(r.Value);
        return list.ToArray();
    }

    public int Length => _chars.Length;
    public bool IsEmpty => _chars.Length == 0;
    public ReadOnlySpan<int> Chars => _chars;
    public ReadOnlySpan<int> Origins => _origins;
    public int this[int index] => _chars[index];

    /// <summary>Whether the first character comes from the first character of the original text.</summary>
    public bool StartsAtOriginalStart => _origins.Length > 0 && _origins[0] == 0;

    public NormalizedText Slice(int start, int length) => new(_chars.AsSpan(start, length).ToArray(), _origins.AsSpan(start, length).ToArray());

    public override string ToString()
    {
        var sb = new StringBuilder(_chars.Length);
        foreach (int c in _chars) sb.Append(char.ConvertFromUtf32(c));
        return sb.ToString();
    }

    /// <summary>Builds a transformed text character by character, each new character naming its origin.</summary>
    public sealed class Builder(int capacity = 16)
    {
        private readonly List<int> _chars = new(capacity);
        private readonly List<int> _origins = new(capacity);

        public void Add(int c, int origin) { _chars.Add(c); _origins.Add(origin); }

        public void Add(string s, int origin)
        {
            foreach (var r in s.EnumerateRunes()) Add(r.Value, origin);
        }

        public NormalizedText Build() => new([.. _chars], [.. _origins]);
    }
}
