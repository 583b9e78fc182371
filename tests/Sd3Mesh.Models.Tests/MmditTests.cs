using Sd3Mesh.Models.Configs;
using Sd3Mesh.Models.Graphs;
using Sd3Mesh.Models.Tests.Reference;
using Sd3Mesh.Models.Weights;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Tests;

/// <summary>
/// The MMDiT graph (run by ONNX Runtime, fp32) against the float64 reference. Tolerance: relative L2 error 1e-5
/// (float32 arithmetic through a few layers gives about 1e-7 to 1e-6).
/// </summary>
public sealed class MmditTests
{
    private const double Tolerance = 1e-5;

    [Theory]
    [InlineData(false, false, false, AttentionKernel.MatMulSoftmax, 8)]
    [InlineData(true, false, false, AttentionKernel.MatMulSoftmax, 8)]
    [InlineData(false, true, true, AttentionKernel.MatMulSoftmax, 8)]
    [InlineData(true, false, true, AttentionKernel.MatMulSoftmax, 8)]
    [InlineData(false, true, true, AttentionKernel.MatMulSoftmax, 3)] // heads in groups of 3, 1
    [InlineData(false, true, true, AttentionKernel.ContribMultiHeadAttention, 8)]
    [InlineData(true, false, false, AttentionKernel.ContribMultiHeadAttention, 8)]
    public void Joint_block_matches_the_reference(bool contextPreOnly, bool dual, bool qkNorm, AttentionKernel kernel, int maxHeadsPerGroup)
    {
        const int b = 2, n = 6, t = 5, d = 32, heads = 4, hd = 8;
        var spec = new Sd3TransformerGraph.JointBlockSpec(d, heads, hd, contextPreOnly, dual, qkNorm, Layers: 4);
        var (model, w) = Ort.Build(m =>
        {
            var hidden = m.G.Input("hidden", DType.Float32, "b", n, d);
            var context = m.G.Input("context", DType.Float32, "b", t, d);
            var temb = m.G.Input("temb", DType.Float32, "b", d);
            using var _ = m.Scope("transformer_blocks.0");
            var (h, c) = Sd3TransformerGraph.JointBlock(m, spec, hidden, context, temb);
            m.G.Output(h, "out_hidden", DType.Float32);
            if (c is { } ctx) m.G.Output(ctx, "out_context", DType.Float32);
        }, attention: kernel, maxHeadsPerGroup: maxHeadsPerGroup);
        var inputs = new Dictionary<string, Tensor>
        {
            ["hidden"] = Ort.Normal(1, b, n, d), ["context"] = Ort.Normal(2, b, t, d), ["temb"] = Ort.Normal(3, b, d),
        };
        var outputs = Ort.Run(model, inputs);
        Assert.Equal(contextPreOnly ? 1 : 2, outputs.Count);
        var refSpec = new RefMmdit.BlockSpec(d, heads, hd, contextPreOnly, dual, qkNorm);
        for (int s = 0; s < b; s++)
        {
            var (eh, ec) = RefMmdit.JointBlock(w, "transformer_blocks.0", refSpec, Ort.Sample(inputs["hidden"], s), n,
                Ort.Sample(inputs["context"], s), t, Ort.Sample(inputs["temb"], s));
            Assert.InRange(Ref.RelL2(Ort.SampleF(outputs["out_hidden"], s), eh), 0, Tolerance);
            if (!contextPreOnly) Assert.InRange(Ref.RelL2(Ort.SampleF(outputs["out_context"], s), ec!), 0, Tolerance);
        }
    }

    /// <summary>
    /// Timestep embedding at diffusers' timesteps (0..1000). The reference rounds t * freq to float32 as diffusers'
    /// own float32 computation does; otherwise the sinusoid's argument near t = 1000 alone differs by 6e-5.
    /// </summary>
    [Fact]
    public void Timestep_and_pooled_text_embedding_matches_the_reference()
    {
        const int d = 32, pooledDim = 24;
        var (model, w) = Ort.Build(m =>
        {
            var ts = m.G.Input("timestep", DType.Float32, "b");
            var pooled = m.G.Input("pooled", DType.Float32, "b", pooledDim);
            m.G.Output(Sd3TransformerGraph.TimeTextEmbed(m, d, pooledDim, ts, pooled), "temb", DType.Float32);
        });
        var timesteps = Tensor.FromArray(new[] { 1000f, 968.25f, 0.5f, 0f }, 4);
        var pooledIn = Ort.Normal(4, 4, pooledDim);
        var temb = Ort.Run(model, new Dictionary<string, Tensor> { ["timestep"] = timesteps, ["pooled"] = pooledIn })["temb"];
        for (int s = 0; s < 4; s++)
        {
            var expected = RefMmdit.TimeTextEmbed(w, timesteps.ToArray<float>()[s], Ort.Sample(pooledIn, s), d, pooledDim);
            Assert.InRange(Ref.RelL2(Ort.SampleF(temb, s), expected), 0, Tolerance);
        }
    }

    [Theory]
    [InlineData(8, 8)]
    [InlineData(12, 20)]
    [InlineData(2, 128)]
    public void Patch_embedding_adds_the_centred_crop_of_the_position_table(int height, int width)
    {
        var c = Presets.Tiny().Transformer; // pos_embed_max_size 64, patch 2
        var (model, w) = Ort.Build(m =>
        {
            var x = m.G.Input("latent", DType.Float32, "b", c.InChannels, "h", "w");
            m.G.Output(Sd3TransformerGraph.PatchEmbed(m, c, x).Tokens, "tokens", DType.Float32);
        });
        var latent = Ort.Normal(5, 2, c.InChannels, height, width);
        var tokens = Ort.Run(model, new Dictionary<string, Tensor> { ["latent"] = latent })["tokens"];
        Assert.Equal(new TensorShape(2, height / 2 * (width / 2), c.InnerDim), tokens.Shape);
        for (int s = 0; s < 2; s++)
            Assert.InRange(Ref.RelL2(Ort.SampleF(tokens, s), RefMmdit.PatchEmbed(w, c, Ort.Sample(latent, s), height, width)), 0, Tolerance);
    }

    /// <summary>The whole tiny transformer (patch embed, conditioning, 2 blocks, norm_out, proj_out, unpatchify).</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Whole_transformer_matches_the_reference(bool sd35)
    {
        var c = Presets.Tiny().Transformer with { NumLayers = 3 };
        if (sd35) c = c with { QkNorm = "rms_norm", DualAttentionLayers = [0, 1] };
        var (model, w) = Ort.Build(m => Sd3TransformerGraph.Define(m, c));
        const int b = 2, h = 8, wd = 12, t = 9;
        var inputs = new Dictionary<string, Tensor>
        {
            ["hidden_states"] = Ort.Normal(6, b, 16, h, wd),
            ["encoder_hidden_states"] = Ort.Normal(7, b, t, c.JointAttentionDim),
            ["pooled_projections"] = Ort.Normal(8, b, c.PooledProjectionDim),
            ["timestep"] = Tensor.FromArray(new[] { 1000f, 251.5f }, b),
        };
        var output = Ort.Run(model, inputs)["out_hidden_states"];
        Assert.Equal(new TensorShape(b, 16, h, wd), output.Shape);
        for (int s = 0; s < b; s++)
        {
            var expected = RefMmdit.Forward(w, c, Ort.Sample(inputs["hidden_states"], s), h, wd, Ort.Sample(inputs["encoder_hidden_states"], s), t,
                Ort.Sample(inputs["pooled_projections"], s), inputs["timestep"].ToArray<float>()[s]);
            Assert.InRange(Ref.RelL2(Ort.SampleF(output, s), expected), 0, Tolerance);
        }
    }
}
