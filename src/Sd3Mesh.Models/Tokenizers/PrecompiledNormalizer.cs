using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Sd3Mesh.Models.Tokenizers;

/// <summary>
/// "Precompiled": SentencePiece's compiled normalization rules (T5: nmt_nfkc, i.e. NFKC plus NMT clean-up),
/// a darts-clone double-array trie from byte sequences to replacement strings, applied as Hugging Face
/// tokenizers applies it (spm_precompiled): per extended grapheme cluster, a cluster shorter than 6 UTF-8 bytes
/// whose bytes start with a rule is replaced whole by the shortest such rule's replacement; otherwise each
/// character with a rule of its own is replaced. (SentencePiece itself takes the longest rule and works
/// character by character; the two differ on some combining sequences, and tokenizers' way is the one here.)
/// The charsmap carries its own normalization tables, so no Unicode data of the runtime is needed.
/// </summary>
public sealed class PrecompiledNormalizer : INormalizer
{
    private readonly DoubleArrayTrie _trie;
    private readonly byte[] _strings;

    public PrecompiledNormalizer(byte[] charsMap)
    {
        if (charsMap.Length <= 4) throw new InvalidDataException("precompiled_charsmap is broken: shorter than its header");
        uint trieSize = BinaryPrimitives.ReadUInt32LittleEndian(charsMap);
        if (trieSize > charsMap.Length - 4)
            throw new InvalidDataException($"precompiled_charsmap is broken: its trie of {trieSize} bytes exceeds the blob of {charsMap.Length}");
        _trie = DoubleArrayTrie.FromBytes(charsMap.AsSpan(4, (int)trieSize));
        _strings = charsMap.AsSpan(4 + (int)trieSize).ToArray();
        CharsMap = charsMap;
    }

    public byte[] CharsMap { get; }

    public NormalizedText Normalize(NormalizedText text)
    {
        var s = text.ToString();
        var b = new NormalizedText.Builder(text.Length);
        int index = 0; // in scalar values
        for (int at = 0; at < s.Length;)
        {
            int length = StringInfo.GetNextTextElementLength(s, at);
            var cluster = s.AsSpan(at, length);
            int runes = CountRunes(cluster);
            var bytes = Encoding.UTF8.GetBytes(cluster.ToArray());
            if (bytes.Length < 6 && Transform(bytes) is { } whole)
                b.Add(whole, text.Origins[index]);
            else
            {
                for (int k = 0; k < runes; k++)
                {
                    int c = text[index + k];
                    var one = Transform(Encoding.UTF8.GetBytes(char.ConvertFromUtf32(c)));
                    if (one is null) b.Add(c, text.Origins[index + k]);
                    else b.Add(one, text.Origins[index + k]);
                }
            }
            index += runes;
            at += length;
        }
        return b.Build();
    }

    /// <summary>The replacement of the shortest rule that starts <paramref name="bytes"/>, or null.</summary>
    private string? Transform(ReadOnlySpan<byte> bytes)
    {
        if (!_trie.TryShortestPrefix(bytes, out int offset, out _)) return null;
        if (offset < 0 || offset >= _strings.Length)
            throw new InvalidDataException($"precompiled_charsmap points outside its strings (offset {offset})");
        int end = _strings.AsSpan(offset).IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? _strings.AsSpan(offset) : _strings.AsSpan(offset, end));
    }

    private static int CountRunes(ReadOnlySpan<char> s)
    {
        int n = 0;
        foreach (var _ in s.EnumerateRunes()) n++;
        return n;
    }
}
