using Sd3Mesh.Models.Configs;
using Sd3Mesh.Models.Graphs;
using Sd3Mesh.Models.Tests.Reference;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Tests;

/// <summary>VAE blocks and the tiny decoder (ONNX Runtime, fp32) against the float64 reference; tolerance 1e-5 relative L2.</summary>
public sealed class VaeTests
{
    private const double Tolerance = 1e-5;
    private static readonly AutoencoderKlConfig Cfg = Presets.Tiny().Vae; // groups 8

    private static void Check(Action<ModelGraph, Value> block, long[] inputShape, Func<RefWeights, double[], double[]> reference, long[] outputShape,
        AttentionKernel kernel = AttentionKernel.MatMulSoftmax)
    {
        var (model, w) = Ort.Build(m =>
        {
            var x = m.G.Input("x", DType.Float32, "b", inputShape[0], "h", "w");
            block(m, x);
        }, attention: kernel);
        var input = Ort.Normal(9, 2, inputShape[0], inputShape[1], inputShape[2]);
        var y = Ort.Run(model, new Dictionary<string, Tensor> { ["x"] = input })["y"];
        Assert.Equal(new TensorShape([2, .. outputShape]), y.Shape);
        for (int s = 0; s < 2; s++)
            Assert.InRange(Ref.RelL2(Ort.SampleF(y, s), reference(w, Ort.Sample(input, s))), 0, Tolerance);
    }

    [Theory]
    [InlineData(16, 32)]
    [InlineData(16, 16)]
    public void Resnet_block_matches_the_reference(int inC, int outC) =>
        Check((m, x) => m.G.Output(VaeGraph.Resnet(m, Cfg, x, "r", inC, outC), "y", DType.Float32), [inC, 6, 5],
            (w, x) => RefVae.Resnet(w, "r", x, inC, outC, 6, 5, Cfg.NormNumGroups), [outC, 6, 5]);

    [Theory]
    [InlineData(AttentionKernel.MatMulSoftmax)]
    [InlineData(AttentionKernel.ContribMultiHeadAttention)]
    public void Attention_block_matches_the_reference(AttentionKernel kernel) =>
        Check((m, x) => m.G.Output(VaeGraph.SpatialAttention(m, x, "a", 16, Cfg.NormNumGroups), "y", DType.Float32), [16, 4, 7],
            (w, x) => RefVae.Attention(w, "a", x, 16, 28, Cfg.NormNumGroups), [16, 4, 7], kernel);

    [Fact]
    public void Upsample_block_matches_the_reference() =>
        Check((m, x) => m.G.Output(VaeGraph.Upsample(m, x, "u", 16), "y", DType.Float32), [16, 3, 5],
            (w, x) => RefVae.Upsample(w, "u", x, 16, 3, 5), [16, 6, 10]);

    [Fact]
    public void Downsample_block_pads_right_and_bottom_only() =>
        Check((m, x) => m.G.Output(VaeGraph.Downsample(m, x, "d", 16), "y", DType.Float32), [16, 8, 6],
            (w, x) => RefVae.Downsample(w, "d", x, 16, 8, 6), [16, 4, 3]);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Tiny_decoder_matches_the_reference(bool postQuantConv)
    {
        var cfg = Cfg with { UsePostQuantConv = postQuantConv };
        var (model, w) = Ort.Build(m => VaeGraph.DefineDecoder(m, cfg));
        Assert.Equal(postQuantConv, w.Has("post_quant_conv.weight"));
        var z = Ort.Normal(10, 1, 16, 4, 3);
        var image = Ort.Run(model, new Dictionary<string, Tensor> { ["latent_sample"] = z })["sample"];
        Assert.Equal(new TensorShape(1, 3, 32, 24), image.Shape);
        Assert.InRange(Ref.RelL2(image.ToFloatArray(), RefVae.Decode(w, cfg, Ort.Sample(z, 0), 4, 3)), 0, Tolerance);
    }
}
