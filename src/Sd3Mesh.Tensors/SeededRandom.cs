using System.Runtime.CompilerServices;

namespace Sd3Mesh.Tensors;

/// <summary>
/// Deterministic random numbers for initial latents and seeded model weights.
///
/// Algorithm (stable across machines and thread counts; documented so other tools can reproduce it):
/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11) keyed by the
/// 64-bit seed (key = [seed low 32 bits, seed high 32 bits]). Element i of stream s comes from block
/// b = i / 4 with counter [b low, b high, s low, s high], and is word i % 4 of that block's output.
/// Uniforms: u = (word >> 8) * 2^-24 in [0, 1). Normals: Box-Muller on the word pairs (0,1) and (2,3):
/// u1 = ((w0 >> 8) + 1) * 2^-24 in (0, 1], u2 = (w1 >> 8) * 2^-24, r = sqrt(-2 ln u1),
/// n0 = r cos(2 pi u2), n1 = r sin(2 pi u2), computed in float64 and rounded to float32.
/// Because element i depends only on (seed, stream, i), any slice can be generated on its own, in parallel.
/// </summary>
public static class SeededRandom
{
    private const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;
    private const double TwoPow24 = 1.0 / (1 << 24);
    private const int ParallelChunk = 1 << 16; // elements; a multiple of 4

    /// <summary>The Philox4x32-10 block function.</summary>
    public static (uint, uint, uint, uint) Philox(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (int round = 0; round < 10; round++)
        {
            if (round > 0) { k0 += W0; k1 += W1; }
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0, hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>Standard normal samples for elements [offset, offset + destination.Length) of (seed, stream).</summary>
    public static void FillNormal(Span<float> destination, ulong seed, ulong stream = 0, long offset = 0) =>
        Fill(destination, seed, stream, offset, normal: true);

    /// <summary>Uniform samples in [0, 1) for elements [offset, offset + destination.Length) of (seed, stream).</summary>
    public static void FillUniform(Span<float> destination, ulong seed, ulong stream = 0, long offset = 0) =>
        Fill(destination, seed, stream, offset, normal: false);

    /// <summary>
    /// Like <see cref="FillNormal"/> for large arrays, using every core; the result is identical to the
    /// single-threaded one.
    /// </summary>
    public static void FillNormalParallel(float[] destination, ulong seed, ulong stream = 0) =>
        FillParallel(destination, seed, stream, normal: true);

    public static void FillUniformParallel(float[] destination, ulong seed, ulong stream = 0) =>
        FillParallel(destination, seed, stream, normal: false);

    private static void FillParallel(float[] destination, ulong seed, ulong stream, bool normal)
    {
        int chunks = (destination.Length + ParallelChunk - 1) / ParallelChunk;
        Parallel.For(0, chunks, c =>
        {
            int start = c * ParallelChunk;
            int length = Math.Min(ParallelChunk, destination.Length - start);
            Fill(destination.AsSpan(start, length), seed, stream, start, normal);
        });
    }

    private static void Fill(Span<float> destination, ulong seed, ulong stream, long offset, bool normal)
    {
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset));
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32), s0 = (uint)stream, s1 = (uint)(stream >> 32);
        Span<float> block = stackalloc float[4];
        long i = offset, end = offset + destination.Length;
        while (i < end)
        {
            long b = i >> 2;
            var (w0, w1, w2, w3) = Philox((uint)b, (uint)(b >> 32), s0, s1, k0, k1);
            if (normal)
            {
                BoxMuller(w0, w1, out block[0], out block[1]);
                BoxMuller(w2, w3, out block[2], out block[3]);
            }
            else
            {
                block[0] = Uniform(w0); block[1] = Uniform(w1); block[2] = Uniform(w2); block[3] = Uniform(w3);
            }
            int first = (int)(i & 3);
            int take = (int)Math.Min(4 - first, end - i);
            block.Slice(first, take).CopyTo(destination.Slice((int)(i - offset)));
            i += take;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Uniform(uint w) => (float)((w >> 8) * TwoPow24);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BoxMuller(uint a, uint b, out float n0, out float n1)
    {
        double u1 = ((a >> 8) + 1) * TwoPow24;
        double u2 = (b >> 8) * TwoPow24;
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        var (sin, cos) = Math.SinCos(2.0 * Math.PI * u2);
        n0 = (float)(r * cos);
        n1 = (float)(r * sin);
    }
}
