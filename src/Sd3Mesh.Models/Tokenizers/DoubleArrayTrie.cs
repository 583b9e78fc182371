using System.Buffers.Binary;

namespace Sd3Mesh.Models.Tokenizers;

/// <summary>
/// Read-only darts-clone double-array trie, the structure inside SentencePiece's precompiled_charsmap.
/// Each 32-bit unit packs: bit 8 "has a leaf", bits 10.. the offset to the children (shifted by 8 more
/// when bit 9 is set), the low byte (plus bit 31) the label; leaf units hold a 31-bit value. Children sit
/// at position XOR offset XOR label.
/// </summary>
public sealed class DoubleArrayTrie
{
    private readonly uint[] _units;

    public DoubleArrayTrie(uint[] units)
    {
        if (units.Length == 0) throw new InvalidDataException("empty double-array trie");
        _units = units;
    }

    public static DoubleArrayTrie FromBytes(ReadOnlySpan<byte> blob)
    {
        if (blob.Length % 4 != 0) throw new InvalidDataException($"double-array blob of {blob.Length} bytes is not whole 32-bit units");
        var units = new uint[blob.Length / 4];
        for (int i = 0; i < units.Length; i++) units[i] = BinaryPrimitives.ReadUInt32LittleEndian(blob[(i * 4)..]);
        return new DoubleArrayTrie(units);
    }

    private static bool HasLeaf(uint unit) => ((unit >> 8) & 1) == 1;
    private static int Value(uint unit) => (int)(unit & 0x7FFFFFFFu);
    private static uint Label(uint unit) => unit & 0x800000FFu;
    private static uint Offset(uint unit) => (unit >> 10) << (int)((unit & (1u << 9)) >> 6);

    /// <summary>
    /// The value and length of the shortest key that is a prefix of <paramref name="key"/> (the first result of
    /// darts-clone's commonPrefixSearch, which Hugging Face's Precompiled normalizer takes). Stops at a NUL byte.
    /// </summary>
    public bool TryShortestPrefix(ReadOnlySpan<byte> key, out int value, out int length)
    {
        uint pos = Offset(_units[0]);
        for (int i = 0; i < key.Length; i++)
        {
            byte b = key[i];
            if (b == 0) break;
            pos ^= b;
            if (pos >= _units.Length) break;
            uint unit = _units[pos];
            if (Label(unit) != b) break;
            pos ^= Offset(unit);
            if (HasLeaf(unit) && pos < _units.Length)
            {
                value = Value(_units[pos]);
                length = i + 1;
                return true;
            }
        }
        value = length = 0;
        return false;
    }
}
