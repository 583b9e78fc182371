using Sd3Mesh.Models.Graphs;
using Sd3Mesh.Models.Tests.Reference;

namespace Sd3Mesh.Models.Tests;

public sealed class PositionTablesTests
{
    // T5's buckets (bidirectional, 32 buckets, max distance 128) worked out by hand from the formula:
    // 16 buckets per side, offsets 0..7 exact, then 8 + floor(ln(n/8) / ln(16) * 8), capped at 15; keys after the
    // query (positive offsets) add 16. E.g. n = 12: ln(1.5)/ln(16)*8 = 1.17 -> 9; n = 63: 5.95 -> 13; n = 64: 6 -> 14.
    [Theory]
    [InlineData(0, 0)]
    [InlineData(-1, 1)]
    [InlineData(1, 17)]
    [InlineData(-7, 7)]
    [InlineData(7, 23)]
    [InlineData(-8, 8)]
    [InlineData(8, 24)]
    [InlineData(-11, 8)]
    [InlineData(-12, 9)]
    [InlineData(16, 26)]
    [InlineData(-20, 10)]
    [InlineData(-63, 13)]
    [InlineData(63, 29)]
    [InlineData(-64, 14)]
    [InlineData(64, 30)]
    [InlineData(-100, 15)]
    [InlineData(-127, 15)]
    [InlineData(128, 31)]
    [InlineData(500, 31)]
    [InlineData(-1000, 15)]
    public void T5_bucket_matches_hand_computed_values(int relative, int bucket)
    {
        Assert.Equal(bucket, PositionTables.T5Bucket(relative, 32, 128));
        Assert.Equal(bucket, RefT5.Bucket(relative, 32, 128));
    }

    [Fact]
    public void T5_bucket_table_covers_both_ends_and_saturates()
    {
        var table = PositionTables.T5BucketTable(32, 128);
        Assert.Equal(257, table.Length);
        Assert.Equal(15, table[0]);          // -128
        Assert.Equal(0, table[128]);         // 0
        Assert.Equal(31, table[256]);        // +128
        for (int r = -128; r <= 128; r++) Assert.Equal(RefT5.Bucket(r, 32, 128), table[r + 128]);
    }

    [Fact]
    public void Sin_cos_table_matches_the_formula_on_the_whole_grid()
    {
        const int d = 16, max = 12, baseSize = 4;
        var table = PositionTables.SinCos2D(d, max, baseSize);
        var expected = RefMmdit.PositionCrop(d, max, baseSize, max, max); // the "crop" of the whole grid is the grid
        Assert.Equal(expected.Length, table.Length);
        for (int i = 0; i < table.Length; i++) Assert.Equal(expected[i], table[i], 1e-6);
        // Row h * max + w: first half encodes w, second h. Column 0 of the sin part is sin(w / 3).
        Assert.Equal(Math.Sin(5 / 3.0), table[(2 * max + 5) * d + 0], 1e-6);
        Assert.Equal(Math.Sin(2 / 3.0), table[(2 * max + 5) * d + d / 2], 1e-6);
    }

    [Fact]
    public void Timestep_frequencies_span_one_to_one_ten_thousandth()
    {
        var f = PositionTables.TimestepFrequencies(256);
        Assert.Equal(128, f.Length);
        Assert.Equal(1f, f[0]);
        Assert.Equal(Math.Exp(-Math.Log(10000) * 127 / 128), f[127], 1e-9);
    }
}
