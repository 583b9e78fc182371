using System.Runtime.CompilerServices;

namespace Sd3Mesh.Tensors;

/// <summary>
/// Brain floating point: the upper 16 bits of an IEEE float32 (8-bit exponent, 7-bit mantissa).
/// .NET has no such type, and SD3 checkpoints are often stored in it.
/// </summary>
public readonly struct BFloat16 : IEquatable<BFloat16>
{
    public readonly ushort Bits;

    private BFloat16(ushort bits) => Bits = bits;

    public static BFloat16 FromBits(ushort bits) => new(bits);

    public static explicit operator float(BFloat16 value) => BitConverter.Int32BitsToSingle(value.Bits << 16);

    /// <summary>Rounds to nearest, ties to even (what PyTorch's .to(torch.bfloat16) does); NaN stays NaN.</summary>
    public static explicit operator BFloat16(float value) => new(Round(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ushort Round(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x0040); // keep sign, force a quiet NaN
        uint lsb = (bits >> 16) & 1;
        return (ushort)((bits + 0x7FFF + lsb) >> 16);
    }

    public bool Equals(BFloat16 other) => Bits == other.Bits;
    public override bool Equals(object? obj) => obj is BFloat16 b && Equals(b);
    public override int GetHashCode() => Bits;
    public override string ToString() => ((float)this).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
}
