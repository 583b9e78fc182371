using Sd3Mesh.Models.Configs;
using Sd3Mesh.Models.Graphs;
using Sd3Mesh.Models.Tests.Reference;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Tests;

/// <summary>CLIP and T5 graphs (ONNX Runtime, fp32) against the float64 references; relative L2 tolerance 1e-5.</summary>
public sealed class TextEncoderTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private readonly Xunit.Abstractions.ITestOutputHelper _output = output;

    private const double Tolerance = 1e-5;

    private static readonly T5EncoderConfig SmallT5 = new()
    {
        VocabSize = 300, DModel = 32, DKv = 8, DFf = 48, NumLayers = 1, NumHeads = 4, FeedForwardProj = "gated-gelu",
        RelativeAttentionNumBuckets = 32, RelativeAttentionMaxDistance = 128,
    };

    /// <summary>One T5 layer, then two (the second reusing the first layer's position bias), at lengths that reach
    /// exact, log-spaced and saturated buckets (150 > max_distance 128).</summary>
    [Theory]
    [InlineData(1, 7)]
    [InlineData(2, 150)]
    public void T5_matches_the_reference(int layers, int length)
    {
        var c = SmallT5 with { NumLayers = layers };
        var (model, w) = Ort.Build(m => T5EncoderGraph.Define(m, c));
        var ids = Enumerable.Range(0, 2 * length).Select(i => (long)((i * 37 + 11) % c.VocabSize)).ToArray();
        var output = Ort.Run(model, new Dictionary<string, Tensor> { ["input_ids"] = Tensor.FromArray(ids, 2, length) })["last_hidden_state"];
        Assert.Equal(new TensorShape(2, length, c.DModel), output.Shape);
        for (int s = 0; s < 2; s++)
            Assert.InRange(Ref.RelL2(Ort.SampleF(output, s), RefT5.Forward(w, c, ids[(s * length)..((s + 1) * length)])), 0, Tolerance);
    }

    /// <summary>
    /// Weight-only int8 (per-output-channel symmetric) against fp32 on the same weights: each weight's rounding
    /// error is at most half a step (max|row| / 254), which over the tiny T5 gives well under 3e-2 relative L2.
    /// </summary>
    [Fact]
    public void T5_int8_stays_close_to_fp32()
    {
        var c = Presets.Tiny().TextEncoder3;
        var weights = new Weights.RandomWeights(3);
        var fp32 = Sd3Graphs.T5Encoder(c, DType.Float32, weights).Model;
        var int8 = Sd3Graphs.T5Encoder(c, DType.Float32, weights, int8: true).Model;
        Assert.Contains(int8.Initializers, i => i.DType == DType.Int8 && i.Name == "encoder.block.0.layer.1.DenseReluDense.wo.weight");
        var ids = Tensor.FromArray(Enumerable.Range(0, 64).Select(i => (long)(i * 389 % 32128)).ToArray(), 2, 32);
        var a = Ort.Run(fp32, new Dictionary<string, Tensor> { ["input_ids"] = ids })["last_hidden_state"].ToFloatArray();
        var b = Ort.Run(int8, new Dictionary<string, Tensor> { ["input_ids"] = ids })["last_hidden_state"].ToFloatArray();
        double error = Ref.RelL2(b, a.Select(v => (double)v).ToArray());
        _output.WriteLine($"int8 vs fp32 relative L2: {error:E2}");
        Assert.InRange(error, 1e-5, 3e-2); // quantized (not identical) but close
        foreach (var q in int8.Initializers.Where(i => i.DType == DType.Int8))
            Assert.Equal(4 * q.ByteCount, fp32.Initializers.Single(i => i.Name == q.Name).ByteCount);
        Assert.Equal(2 * 7, int8.Initializers.Count(i => i.DType == DType.Int8)); // q, k, v, o, wi_0, wi_1, wo per layer
    }

    private static ClipTextConfig SmallClip(string act, int eos) => Presets.Tiny().TextEncoder with
    {
        VocabSize = 500, HiddenSize = 24, IntermediateSize = 40, NumHiddenLayers = 2, NumAttentionHeads = 3, ProjectionDim = 16,
        MaxPositionEmbeddings = 12, HiddenAct = act, EosTokenId = eos,
    };

    /// <summary>
    /// CLIP with SD3's legacy config (eos_token_id 2: pooling at argmax(input_ids)) and with a modern one (pooling at
    /// the first eos_token_id). Sequences padded with the EOS id (tokenizer) and with "!" = 0 (tokenizer_2).
    /// </summary>
    [Theory]
    [InlineData("quick_gelu", 2)]
    [InlineData("gelu", 2)]
    [InlineData("gelu", 499)]
    public void Clip_matches_the_reference(string act, int eos)
    {
        var c = SmallClip(act, eos);
        var (model, w) = Ort.Build(m => ClipTextGraph.Define(m, c));
        long[][] sequences =
        [
            [498, 17, 301, 45, 499, 499, 499, 499, 499, 499, 499, 499], // padded with EOS: the first EOS is the pooled token
            [498, 222, 499, 0, 0, 0, 0, 0, 0, 0, 0, 0],                 // padded with "!" (id 0)
        ];
        var ids = sequences.SelectMany(x => x).ToArray();
        var outputs = Ort.Run(model, new Dictionary<string, Tensor> { ["input_ids"] = Tensor.FromArray(ids, 2, 12) });
        Assert.Equal(3 + c.NumHiddenLayers, outputs.Count);
        for (int s = 0; s < 2; s++)
        {
            var r = RefClip.Forward(w, c, sequences[s]);
            Assert.Equal(s == 0 ? 4 : 2, r.EosIndex);
            Assert.InRange(Ref.RelL2(Ort.SampleF(outputs["text_embeds"], s), r.TextEmbeds), 0, Tolerance);
            Assert.InRange(Ref.RelL2(Ort.SampleF(outputs["last_hidden_state"], s), r.LastHiddenState), 0, Tolerance);
            for (int i = 0; i <= c.NumHiddenLayers; i++)
                Assert.InRange(Ref.RelL2(Ort.SampleF(outputs[$"hidden_states.{i}"], s), r.HiddenStates[i]), 0, Tolerance);
        }
    }

    /// <summary>Causality: changing a later token changes no earlier position's hidden state.</summary>
    [Fact]
    public void Clip_attention_is_causal()
    {
        var c = SmallClip("quick_gelu", 2);
        var (model, _) = Ort.Build(m => ClipTextGraph.Define(m, c));
        long[] a = [498, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 499], b = [498, 1, 2, 3, 4, 5, 77, 7, 8, 9, 10, 499];
        var ha = Ort.Run(model, new Dictionary<string, Tensor> { ["input_ids"] = Tensor.FromArray(a, 1, 12) })["last_hidden_state"].ToFloatArray();
        var hb = Ort.Run(model, new Dictionary<string, Tensor> { ["input_ids"] = Tensor.FromArray(b, 1, 12) })["last_hidden_state"].ToFloatArray();
        int d = c.HiddenSize;
        Assert.Equal(ha[..(6 * d)], hb[..(6 * d)]);
        Assert.NotEqual(ha[(6 * d)..], hb[(6 * d)..]);
    }
}
