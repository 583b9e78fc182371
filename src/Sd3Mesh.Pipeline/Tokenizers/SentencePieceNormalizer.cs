using System.Buffers.Binary;
using System.Text;

namespace Sd3Mesh.Pipeline.Tokenizers;

/// <summary>
/// SentencePiece's normalizer (normalizer.cc) over UTF-8 bytes:
/// <list type="number">
/// <item>the precompiled charsmap (T5: "nmt_nfkc", i.e. NFKC plus NMT clean-up rules, compiled into a
/// double-array trie of byte sequences and their replacements): at each position the longest matching
/// rule is applied, otherwise one UTF-8 character is copied;</item>
/// <item>remove_extra_whitespaces: leading and trailing spaces are dropped and runs collapse to one;</item>
/// <item>add_dummy_prefix: a space is put in front ("world" and "hello world" both yield "▁world");</item>
/// <item>escape_whitespaces: spaces become "▁" (U+2581).</item>
/// </list>
/// Pieces of type USER_DEFINED are matched first and copied unnormalized, as SentencePiece's prefix
/// matcher does. Because the charsmap carries the normalization rules, this needs no Unicode tables of
/// the runtime (which runs with invariant globalization, where string.Normalize does nothing).
/// </summary>
public sealed class SentencePieceNormalizer
{
    public const string SpaceSymbol = "\u2581";
    private static readonly byte[] SpaceSymbolBytes = Encoding.UTF8.GetBytes(SpaceSymbol);
    private static readonly byte[] ReplacementChar = [0xEF, 0xBF, 0xBD];

    private readonly DoubleArrayTrie? _charsMap;
    private readonly byte[] _replacements = [];
    private readonly byte[][] _userDefined;

    public SentencePieceNormalizer(byte[]? precompiledCharsMap, bool addDummyPrefix = true,
        bool removeExtraWhitespaces = true, bool escapeWhitespaces = true, IEnumerable<string>? userDefinedSymbols = null)
    {
        if (precompiledCharsMap is { Length: > 0 })
        {
            if (precompiledCharsMap.Length <= 4) throw new InvalidDataException("precompiled charsmap is broken: shorter than its header");
            uint trieSize = BinaryPrimitives.ReadUInt32LittleEndian(precompiledCharsMap);
            if (trieSize >= precompiledCharsMap.Length - 4)
                throw new InvalidDataException($"precompiled charsmap is broken: trie of {trieSize} bytes exceeds the blob of {precompiledCharsMap.Length}");
            _charsMap = DoubleArrayTrie.FromBytes(precompiledCharsMap.AsSpan(4, (int)trieSize));
            _replacements = precompiledCharsMap.AsSpan(4 + (int)trieSize).ToArray();
        }
        AddDummyPrefix = addDummyPrefix;
        RemoveExtraWhitespaces = removeExtraWhitespaces;
        EscapeWhitespaces = escapeWhitespaces;
        _userDefined = (userDefinedSymbols ?? []).Where(s => s.Length > 0).Select(Encoding.UTF8.GetBytes).ToArray();
    }

    public bool HasCharsMap => _charsMap is not null;
    public bool AddDummyPrefix { get; }
    public bool RemoveExtraWhitespaces { get; }
    public bool EscapeWhitespaces { get; }

    public string Normalize(string text) => Encoding.UTF8.GetString(Normalize(Encoding.UTF8.GetBytes(text)));

    public byte[] Normalize(ReadOnlySpan<byte> input)
    {
        var output = new List<byte>(input.Length * 3 + 3);
        if (input.IsEmpty) return [];

        if (RemoveExtraWhitespaces)
        {
            while (!input.IsEmpty)
            {
                var (piece, consumed) = NormalizePrefix(input);
                if (!(piece.Length == 1 && piece[0] == (byte)' ')) break;
                input = input[consumed..];
            }
        }
        if (input.IsEmpty) return [];

        if (AddDummyPrefix) AppendSpace(output);

        bool prevSpace = RemoveExtraWhitespaces;
        while (!input.IsEmpty)
        {
            var (piece, consumed) = NormalizePrefix(input);
            var sp = piece.AsSpan();
            while (prevSpace && !sp.IsEmpty && sp[0] == (byte)' ') sp = sp[1..];
            if (!sp.IsEmpty)
            {
                foreach (byte b in sp)
                {
                    if (b == (byte)' ') AppendSpace(output);
                    else output.Add(b);
                }
                prevSpace = sp[^1] == (byte)' ';
            }
            input = input[consumed..];
            if (!RemoveExtraWhitespaces) prevSpace = false;
        }

        if (RemoveExtraWhitespaces)
        {
            var space = EscapeWhitespaces ? SpaceSymbolBytes : [(byte)' '];
            while (output.Count >= space.Length && EndsWith(output, space)) output.RemoveRange(output.Count - space.Length, space.Length);
        }
        return output.ToArray();
    }

    private void AppendSpace(List<byte> output)
    {
        if (EscapeWhitespaces) output.AddRange(SpaceSymbolBytes);
        else output.Add((byte)' ');
    }

    private static bool EndsWith(List<byte> output, byte[] suffix)
    {
        for (int i = 0; i < suffix.Length; i++)
            if (output[output.Count - suffix.Length + i] != suffix[i]) return false;
        return true;
    }

    /// <summary>The normalized form of the longest rule at the start of <paramref name="input"/> and the bytes it consumes.</summary>
    private (byte[] Piece, int Consumed) NormalizePrefix(ReadOnlySpan<byte> input)
    {
        int userLength = 0;
        foreach (var u in _userDefined)
            if (u.Length > userLength && input.StartsWith(u)) userLength = u.Length;
        if (userLength > 0) return (input[..userLength].ToArray(), userLength);

        if (_charsMap is not null && _charsMap.TryLongestPrefix(input, out int offset, out int length))
        {
            if (offset < 0 || offset >= _replacements.Length)
                throw new InvalidDataException($"precompiled charsmap points outside its strings (offset {offset})");
            int end = _replacements.AsSpan(offset).IndexOf((byte)0);
            var replacement = end < 0 ? _replacements.AsSpan(offset) : _replacements.AsSpan(offset, end);
            return (replacement.ToArray(), length);
        }

        int charLength = Utf8CharLength(input);
        if (charLength == 0) return (ReplacementChar, 1);
        return (input[..charLength].ToArray(), charLength);
    }

    /// <summary>Length of the valid UTF-8 character at the start, or 0 when malformed.</summary>
    internal static int Utf8CharLength(ReadOnlySpan<byte> s)
    {
        var status = System.Text.Rune.DecodeFromUtf8(s, out _, out int consumed);
        return status == System.Buffers.OperationStatus.Done ? consumed : 0;
    }
}
