namespace Sd3Mesh.Tensors.Tests;

public class SeededRandomTests
{
    // Known-answer vectors of Random123's kat_vectors for philox4x32_10.
    [Theory]
    [InlineData(0u, 0u, 0u, 0u, 0u, 0u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [InlineData(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [InlineData(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void Philox_matches_random123_known_answers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1,
        uint e0, uint e1, uint e2, uint e3)
    {
        Assert.Equal((e0, e1, e2, e3), SeededRandom.Philox(c0, c1, c2, c3, k0, k1));
    }

    [Fact]
    public void Any_slice_equals_the_same_elements_of_the_whole()
    {
        var whole = new float[1003];
        SeededRandom.FillNormal(whole, seed: 42, stream: 7);
        var part = new float[101];
        SeededRandom.FillNormal(part, seed: 42, stream: 7, offset: 501);
        Assert.Equal(whole.AsSpan(501, 101).ToArray(), part);
    }

    [Fact]
    public void Parallel_fill_is_identical_to_serial()
    {
        var serial = new float[300_001];
        SeededRandom.FillNormal(serial, 123);
        var parallel = new float[300_001];
        SeededRandom.FillNormalParallel(parallel, 123);
        Assert.Equal(serial, parallel);
    }

    [Fact]
    public void Normals_have_unit_moments_and_streams_differ()
    {
        var a = new float[200_000];
        SeededRandom.FillNormalParallel(a, seed: 1, stream: 0);
        double mean = a.Average(v => (double)v), var = a.Average(v => (v - mean) * (v - mean));
        Assert.InRange(mean, -0.01, 0.01);      // 4.5 standard errors
        Assert.InRange(var, 0.985, 1.015);
        var b = new float[4];
        SeededRandom.FillNormal(b, seed: 1, stream: 1);
        Assert.NotEqual(a.AsSpan(0, 4).ToArray(), b);
    }

    [Fact]
    public void First_normals_of_seed_zero_are_pinned()
    {
        // Recomputed independently from the documented algorithm in float64:
        // block 0 of key (0,0) is the first Random123 vector above.
        static double U1(uint w) => ((w >> 8) + 1) / 16777216.0;
        static double U2(uint w) => (w >> 8) / 16777216.0;
        double r0 = Math.Sqrt(-2 * Math.Log(U1(0x6627e8d5u))), r1 = Math.Sqrt(-2 * Math.Log(U1(0xbc57ac4cu)));
        var expected = new[]
        {
            (float)(r0 * Math.Cos(2 * Math.PI * U2(0xe169c58du))), (float)(r0 * Math.Sin(2 * Math.PI * U2(0xe169c58du))),
            (float)(r1 * Math.Cos(2 * Math.PI * U2(0x9b00dbd8u))), (float)(r1 * Math.Sin(2 * Math.PI * U2(0x9b00dbd8u))),
        };
        var got = new float[4];
        SeededRandom.FillNormal(got, seed: 0);
        Assert.Equal(expected, got);
    }
}
