using System.Text;

namespace Sd3Mesh.Models.Tokenizers;

/// <summary>
/// A deterministic, SYNTHETIC SentencePiece Unigram vocabulary shaped like T5's (t5-v1_1: 32100 entries,
/// &lt;pad&gt;=0, &lt;/s&gt;=1, &lt;unk&gt;=2, &lt;extra_id_99&gt;..&lt;extra_id_0&gt; = 32000..32099 as T5 numbers
/// them), for created models whose weights are seeded random. It is not T5's vocabulary (which cannot be
/// downloaded here); it only has to segment text plausibly:
/// <list type="number">
/// <item>words and word pieces from OpenAI's CLIP vocabulary in merge order (roughly frequency order),
/// keeping only tokens made of letters and digits: a CLIP token ending in &lt;/w&gt; (a word's last piece,
/// most often a whole word) becomes "▁word", any other token a continuation piece "word";</item>
/// <item>"▁" (the word boundary alone) and the 94 printable ASCII characters, so every ASCII text can be
/// segmented without &lt;unk&gt;.</item>
/// </list>
/// The normal piece at rank k (0-based, in the order above) scores -(10 + ln(k + 2) / 10): every piece
/// costs about the same, so Viterbi picks the fewest pieces (whole words where they exist) and, among
/// as many pieces, the more frequent ones.
/// </summary>
public sealed class SyntheticT5Vocabulary
{
    public const int Size = 32100;
    public const int ExtraIds = 100;
    public const string Pad = "<pad>", Eos = "</s>", Unk = "<unk>";
    public const int PadId = 0, EosId = 1, UnkId = 2;
    public const string WordBoundary = "\u2581";

    private static readonly Lazy<SyntheticT5Vocabulary> Cached = new(Create);

    private SyntheticT5Vocabulary(IReadOnlyList<(string Piece, float Score)> pieces) => Pieces = pieces;

    /// <summary>(piece, score) by id.</summary>
    public IReadOnlyList<(string Piece, float Score)> Pieces { get; }

    /// <summary>Whether the id is a special (control) token: &lt;pad&gt;, &lt;/s&gt;, &lt;unk&gt; or an extra id.</summary>
    public bool IsSpecial(int id) => id <= UnkId || id >= Size - ExtraIds;

    public static SyntheticT5Vocabulary Build() => Cached.Value;

    private static SyntheticT5Vocabulary Create()
    {
        int normalCount = Size - ExtraIds - 3;
        var singles = new List<string>();
        for (char c = '!'; c <= '~'; c++) singles.Add(c.ToString());

        var seen = new HashSet<string>(singles) { WordBoundary };
        var ordered = new List<string>();
        int wordsWanted = normalCount - 1 - singles.Count;
        var clip = ClipVocabulary.Load();
        for (int id = 256; id < clip.Tokens.Count && ordered.Count < wordsWanted; id++)
        {
            var token = clip.Tokens[id];
            bool endsWord = token.EndsWith("</w>", StringComparison.Ordinal);
            var text = ByteLevelAlphabet.Decode(endsWord ? token.AsSpan(0, token.Length - 4) : token.AsSpan());
            if (text.Length == 0 || !IsLettersAndDigits(text)) continue;
            var piece = endsWord ? WordBoundary + text : text;
            if (seen.Add(piece)) ordered.Add(piece);
        }
        if (ordered.Count != wordsWanted)
            throw new InvalidOperationException($"the CLIP vocabulary yields {ordered.Count} word pieces, {wordsWanted} are needed");
        ordered.Add(WordBoundary);
        ordered.AddRange(singles);

        var pieces = new List<(string, float)>(Size) { (Pad, 0f), (Eos, 0f), (Unk, 0f) };
        for (int k = 0; k < ordered.Count; k++) pieces.Add((ordered[k], (float)-(10 + Math.Log(k + 2) / 10)));
        for (int i = ExtraIds - 1; i >= 0; i--) pieces.Add(($"<extra_id_{i}>", 0f));
        return new SyntheticT5Vocabulary(pieces);
    }

    private static bool IsLettersAndDigits(string text)
    {
        foreach (var rune in text.EnumerateRunes())
            if (!Rune.IsLetterOrDigit(rune)) return false;
        return true;
    }
}
