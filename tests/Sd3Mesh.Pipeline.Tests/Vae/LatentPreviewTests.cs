using Sd3Mesh.Pipeline.Imaging;
using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Pipeline.Tests.Fakes;
using Sd3Mesh.Pipeline.Vae;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Tests.Vae;

public class LatentPreviewTests
{
    /// <summary>
    /// FakeVaeDecoder (affine per latent pixel, repeated over its 8x8 block) plus a pattern with zero mean
    /// over every block: only a fit that averages each block recovers the affine map exactly.
    /// </summary>
    private sealed class BlockAffineDecoder : IVaeDecoder
    {
        public int Calls;
        public static double Pattern(int dy, int dx) => 0.05 * (dy - 3.5) * (dx - 3.5);

        public async Task<Tensor> DecodeAsync(Tensor latentSample, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref Calls);
            var flat = (await new FakeVaeDecoder().DecodeAsync(latentSample, cancellationToken)).ToArray<float>();
            int side = (int)latentSample.Shape[2] * 8;
            for (int i = 0; i < flat.Length; i++)
            {
                int y = i / side % side, x = i % side;
                flat[i] = (float)(flat[i] + Pattern(y % 8, x % 8));
            }
            return Tensor.FromArray(flat, latentSample.Shape[0], 3, side, side);
        }
    }

    private static readonly Sd3ModelConfig Model = Sd3ModelConfig.Sd3Medium; // 16 channels, scale 1.5305, shift 0.0609

    /// <summary>The map in the transformer's space: the decoder sees z / scale + shift.</summary>
    private static double ExpectedWeight(int channel, int rgb) => FakeVaeDecoder.Weight(rgb, channel) / Model.ScalingFactor;

    private static double ExpectedBias(int rgb) =>
        FakeVaeDecoder.Bias(rgb) + Model.ShiftFactor * Enumerable.Range(0, Model.LatentChannels).Sum(k => FakeVaeDecoder.Weight(rgb, k));

    [Fact]
    public async Task The_fit_recovers_a_decoder_that_is_affine_per_8x8_block()
    {
        var decoder = new BlockAffineDecoder();
        var preview = await LatentPreview.FitAsync(decoder, Model);
        Assert.Equal(LatentPreview.FitSamples, decoder.Calls);
        Assert.Equal(16, preview.Channels);
        for (int j = 0; j < 3; j++)
        {
            for (int k = 0; k < 16; k++)
                Assert.True(Math.Abs(preview.Weight(k, j) - ExpectedWeight(k, j)) <= 1e-6, $"weight[{k}, {j}]: {preview.Weight(k, j)} vs {ExpectedWeight(k, j)}");
            Assert.True(Math.Abs(preview.Bias(j) - ExpectedBias(j)) <= 1e-6, $"bias[{j}]: {preview.Bias(j)} vs {ExpectedBias(j)}");
        }
    }

    [Fact]
    public async Task A_preview_is_a_png_at_latent_resolution_of_the_chosen_image()
    {
        var preview = await LatentPreview.FitAsync(new BlockAffineDecoder(), Model);
        var values = new float[2 * 16 * 8 * 12];
        SeededRandom.FillNormal(values, 5);
        var latents = Tensor.FromArray(values, 2, 16, 8, 12);

        var png = preview.RenderPng(latents, index: 1);
        var decoded = PngDecoder.Decode(png);
        Assert.Equal((12, 8), (decoded.Image.Width, decoded.Image.Height));
        Assert.InRange(png.Length, 100, 2000); // 96 pixels: a few hundred bytes, not a full-size image
        int plane = 8 * 12, offset = 16 * plane;
        for (int i = 0; i < plane; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                double v = ExpectedBias(j);
                for (int k = 0; k < 16; k++) v += ExpectedWeight(k, j) * values[offset + k * plane + i];
                double expected = Math.Clamp((v / 2 + 0.5) * 255, 0, 255);
                Assert.True(Math.Abs(decoded.Image.Pixels[i * 3 + j] - expected) <= 0.51, $"pixel {i} channel {j}: {decoded.Image.Pixels[i * 3 + j]} vs {expected:F2}");
            }
        }
        Assert.NotEqual(png, preview.RenderPng(latents, index: 0));
        Assert.Throws<ArgumentException>(() => preview.Render(latents, index: 2));
        Assert.Throws<ArgumentException>(() => preview.Render(Tensor.FromArray(new float[4 * 8 * 8], 1, 4, 8, 8)));
    }
}
