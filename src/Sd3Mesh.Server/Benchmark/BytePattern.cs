namespace Sd3Mesh.Server.Benchmark;

/// <summary>
/// The deterministic byte stream of RpcBenchmark.Download: byte i is (i * 31 + 7) mod 251. 251 is
/// prime and not a power of two, so a dropped, repeated or reordered chunk of any size shows up.
/// </summary>
public static class BytePattern
{
    /// <summary>The pattern repeats after this many bytes.</summary>
    public const int Period = 251;

    public static byte At(long index) => (byte)((index * 31 + 7) % 251);

    public static void Fill(Span<byte> destination, long offset)
    {
        int value = (int)((offset * 31 + 7) % 251);
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = (byte)value;
            value += 31;
            if (value >= 251) value -= 251;
        }
    }

    /// <summary>The index of the first byte that differs from the pattern, or -1.</summary>
    public static long FindMismatch(ReadOnlySpan<byte> data, long offset)
    {
        int value = (int)((offset * 31 + 7) % 251);
        for (int i = 0; i < data.Length; i++)
        {
            if (data[i] != value) return offset + i;
            value += 31;
            if (value >= 251) value -= 251;
        }
        return -1;
    }
}
