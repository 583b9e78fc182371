using Sd3Mesh.Pipeline.Tests.Fakes;
using Sd3Mesh.Pipeline.Vae;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Tests.Vae;

public class TiledVaeDecoderTests
{
    private static Tensor Latents(int batch, int channels, int h, int w)
    {
        var v = new float[batch * channels * h * w];
        SeededRandom.FillNormal(v, 99);
        return Tensor.FromArray(v, batch, channels, h, w);
    }

    [Theory]
    // Tiles of 16 latents with stride 12 (diffusers' 25 % overlap): 2x2, 3x2 and uneven edge tiles.
    [InlineData(1, 24, 24)]
    [InlineData(2, 40, 20)]
    [InlineData(1, 17, 33)]
    [InlineData(1, 16, 16)]
    public async Task Tiled_decode_of_a_position_independent_decoder_equals_the_untiled_one(int batch, int h, int w)
    {
        var latents = Latents(batch, 4, h, w);
        var whole = await new FakeVaeDecoder().DecodeAsync(latents);
        var fake = new FakeVaeDecoder();
        var tiled = new TiledVaeDecoder(fake, tileLatentSize: 16);
        var result = await tiled.DecodeAsync(latents);

        Assert.Equal(whole.Shape, result.Shape);
        var a = whole.ToArray<float>();
        var b = result.ToArray<float>();
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-6f * (1 + Math.Abs(a[i])), $"element {i}: {a[i]} vs {b[i]}");
        int expectedTiles = (int)(Math.Ceiling(h / 12.0) * Math.Ceiling(w / 12.0));
        Assert.Equal(h > 16 || w > 16 ? expectedTiles : 1, fake.Calls);
        Assert.All(fake.Shapes, s => Assert.True(s[2] <= 16 && s[3] <= 16));
    }

    [Fact]
    public void SD3_tile_geometry_is_diffusers()
    {
        var tiled = new TiledVaeDecoder(new FakeVaeDecoder());
        Assert.Equal(128, tiled.TileLatentSize);
        Assert.Equal(1024, tiled.TileSampleSize);
        Assert.Equal(96, tiled.Stride);       // int(128 * 0.75)
        Assert.Equal(256, tiled.BlendExtent); // int(1024 * 0.25)
        Assert.Equal(768, tiled.RowLimit);
    }

    [Fact]
    public async Task Blends_linearly_across_the_seam_where_tiles_disagree()
    {
        // A decoder whose output depends on the tile origin shows the blend weights: tile j outputs j.
        var decoder = new OriginDecoder();
        var result = await new TiledVaeDecoder(decoder, tileLatentSize: 4, scaleFactor: 8).DecodeAsync(Tensor.Zeros(DType.Float32, new TensorShape(1, 1, 4, 7)));
        var v = result.ToArray<float>();
        int W = 56;
        // Tile 0 covers x in [0, 32), tile 1 starts at latent 3 (x = 24): cropped at 24 (row_limit = 32 - 8).
        // Blend extent 8: output x in [24, 32) comes from tile 1's first 8 columns: 0*(1 - k/8) + 1*(k/8).
        for (int k = 0; k < 8; k++) Assert.Equal(k / 8f, v[24 + k], 6);
        Assert.Equal(0f, v[23]);
        // Tile 2 (value 2) starts at latent 6 (x = 48) and is 8 wide: it blends from tile 1 over all 8 columns.
        for (int k = 0; k < 8; k++) Assert.Equal(1 * (1 - k / 8f) + 2 * (k / 8f), v[48 + k], 6);
        Assert.Equal(W, (int)result.Shape[3]);
    }

    private sealed class OriginDecoder : Sd3Mesh.Pipeline.Stages.IVaeDecoder
    {
        private int _calls;
        public Task<Tensor> DecodeAsync(Tensor latentSample, CancellationToken cancellationToken = default)
        {
            float value = _calls++;
            int h = (int)latentSample.Shape[2] * 8, w = (int)latentSample.Shape[3] * 8;
            var data = new float[3 * h * w];
            Array.Fill(data, value);
            return Task.FromResult(Tensor.FromArray(data, 1, 3, h, w));
        }
    }
}
