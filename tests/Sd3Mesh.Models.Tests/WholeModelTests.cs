using Sd3Mesh.Models.Configs;
using Sd3Mesh.Models.Graphs;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Models.Weights;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Tests;

/// <summary>Whole tiny repositories under ONNX Runtime: dynamic shapes, precisions, depth.</summary>
public sealed class WholeModelTests : IClassFixture<WholeModelTests.TinyRepositories>
{
    /// <summary>The tiny repository in fp32 and fp16, written once for the class.</summary>
    public sealed class TinyRepositories : IDisposable
    {
        private readonly TempDirectory _dir = new();
        public TinyRepositories()
        {
            ModelZoo.Create("tiny", DType.Float32, 21, _dir.Sub("fp32"));
            ModelZoo.Create("tiny", DType.Float16, 21, _dir.Sub("fp16"));
        }
        public string Path(string precision) => _dir.Sub(precision);
        public void Dispose() => _dir.Dispose();
    }

    private readonly TinyRepositories _repos;
    private readonly Xunit.Abstractions.ITestOutputHelper _output;
    public WholeModelTests(TinyRepositories repos, Xunit.Abstractions.ITestOutputHelper output) => (_repos, _output) = (repos, output);

    private static Dictionary<string, Tensor> TransformerInputs(int batch, int imageHeight, int imageWidth, int textTokens, DType dtype, ulong seed = 1)
    {
        var set = Presets.Tiny().Transformer;
        return new()
        {
            ["hidden_states"] = Ort.Normal(seed, batch, 16, imageHeight / 8, imageWidth / 8).ToDType(dtype),
            ["encoder_hidden_states"] = Ort.Normal(seed + 1, batch, textTokens, set.JointAttentionDim).ToDType(dtype),
            ["pooled_projections"] = Ort.Normal(seed + 2, batch, set.PooledProjectionDim).ToDType(dtype),
            ["timestep"] = Tensor.FromArray(Enumerable.Range(0, batch).Select(i => 1000f - 250 * i).ToArray(), batch),
        };
    }

    [Theory]
    [InlineData(1, 64, 64, 77 + 32)]
    [InlineData(2, 64, 64, 77 + 32)]
    [InlineData(1, 32, 96, 154)]
    [InlineData(2, 96, 48, 154)]
    public void Transformer_and_vae_take_dynamic_batch_image_size_and_text_length(int batch, int height, int width, int textTokens)
    {
        var repo = ModelRepository.Open(_repos.Path("fp32"));
        using (var t = Ort.Open(repo[Submodule.Transformer].ModelPath))
        {
            var output = t.Run(TransformerInputs(batch, height, width, textTokens, DType.Float32))["out_hidden_states"];
            Assert.Equal(new TensorShape(batch, 16, height / 8, width / 8), output.Shape);
            Assert.All(output.ToFloatArray(), v => Assert.True(float.IsFinite(v)));
        }
        using (var d = Ort.Open(repo[Submodule.VaeDecoder].ModelPath))
        {
            var image = d.Run(new Dictionary<string, Tensor> { ["latent_sample"] = Ort.Normal(3, batch, 16, height / 8, width / 8) })["sample"];
            Assert.Equal(new TensorShape(batch, 3, height, width), image.Shape);
        }
        using (var e = Ort.Open(repo[Submodule.VaeEncoder].ModelPath))
        {
            var latent = e.Run(new Dictionary<string, Tensor> { ["sample"] = Ort.Normal(4, batch, 3, height, width) })["latent_parameters"];
            Assert.Equal(new TensorShape(batch, 32, height / 8, width / 8), latent.Shape);
        }
    }

    [Theory]
    [InlineData(1, 77, 32)]
    [InlineData(2, 77, 256)]
    [InlineData(2, 10, 7)]
    public void Text_encoders_take_dynamic_batch_and_length(int batch, int clipLength, int t5Length)
    {
        var repo = ModelRepository.Open(_repos.Path("fp32"));
        var clipIds = Tensor.FromArray(Enumerable.Range(0, batch * clipLength).Select(i => (long)(i % 3 == 0 ? 49407 : i)).ToArray(), batch, clipLength);
        foreach (var s in new[] { Submodule.TextEncoder, Submodule.TextEncoder2 })
        {
            using var session = Ort.Open(repo[s].ModelPath);
            var outputs = session.Run(new Dictionary<string, Tensor> { ["input_ids"] = clipIds });
            Assert.Equal(new TensorShape(batch, 32), outputs["text_embeds"].Shape);
            Assert.Equal(new TensorShape(batch, clipLength, 32), outputs["last_hidden_state"].Shape);
            Assert.Equal(new TensorShape(batch, clipLength, 32), outputs["hidden_states.2"].Shape);
        }
        using var t5 = Ort.Open(repo[Submodule.TextEncoder3].ModelPath);
        var ids = Tensor.FromArray(Enumerable.Range(0, batch * t5Length).Select(i => (long)(i * 7 % 32128)).ToArray(), batch, t5Length);
        Assert.Equal(new TensorShape(batch, t5Length, 64), t5.Run(new Dictionary<string, Tensor> { ["input_ids"] = ids })["last_hidden_state"].Shape);
    }

    /// <summary>
    /// The fp16 graphs (fp16 weights and activations, fp32 norms/softmax/sinusoid) against the fp32 graphs on the
    /// same seeded weights: fp16 rounding (2^-11 relative per value) through the tiny models stays under 1e-2.
    /// </summary>
    [Fact]
    public void Fp16_graphs_agree_with_fp32()
    {
        double Compare(Submodule s, Func<DType, Dictionary<string, Tensor>> inputs, string output)
        {
            using var a = Ort.Open(ModelRepository.Open(_repos.Path("fp32"))[s].ModelPath);
            using var b = Ort.Open(ModelRepository.Open(_repos.Path("fp16"))[s].ModelPath);
            var x = a.Run(inputs(DType.Float32))[output].ToFloatArray();
            var y = b.Run(inputs(DType.Float16))[output];
            Assert.Equal(DType.Float16, y.DType);
            double error = Reference.Ref.RelL2(y.ToFloatArray(), x.Select(v => (double)v).ToArray());
            _output.WriteLine($"{s.FolderName()} {output}: fp16 vs fp32 relative L2 {error:E2}");
            return error;
        }
        var clip = Tensor.FromArray(Enumerable.Range(0, 77).Select(i => (long)(i < 5 ? 100 + i : 49407)).ToArray(), 1, 77);
        Assert.InRange(Compare(Submodule.TextEncoder, _ => new() { ["input_ids"] = clip }, "last_hidden_state"), 0, 1e-2);
        Assert.InRange(Compare(Submodule.TextEncoder2, _ => new() { ["input_ids"] = clip }, "text_embeds"), 0, 1e-2);
        var t5 = Tensor.FromArray(Enumerable.Range(0, 40).Select(i => (long)(i * 31)).ToArray(), 1, 40);
        Assert.InRange(Compare(Submodule.TextEncoder3, _ => new() { ["input_ids"] = t5 }, "last_hidden_state"), 0, 1e-2);
        Assert.InRange(Compare(Submodule.Transformer, d => TransformerInputs(2, 64, 64, 109, d), "out_hidden_states"), 0, 1e-2);
        Assert.InRange(Compare(Submodule.VaeDecoder, d => new() { ["latent_sample"] = Ort.Normal(5, 1, 16, 8, 8).ToDType(d) }, "sample"), 0, 1e-2);
        Assert.InRange(Compare(Submodule.VaeEncoder, d => new() { ["sample"] = Ort.Normal(6, 1, 3, 64, 64).ToDType(d) }, "latent_parameters"), 0, 1e-2);
    }

    private static (double Std, double TokenSpread) Stats(float[] v, int tokenWidth)
    {
        Assert.All(v, x => Assert.True(float.IsFinite(x)));
        double mean = v.Average(x => (double)x);
        double std = Math.Sqrt(v.Average(x => (x - mean) * (x - mean)));
        // How much tokens differ from each other (a collapsed model maps every token to the same vector).
        int tokens = v.Length / tokenWidth;
        double spread = 0;
        for (int k = 0; k < tokenWidth; k++)
        {
            double m = 0;
            for (int i = 0; i < tokens; i++) m += v[i * tokenWidth + k];
            m /= tokens;
            for (int i = 0; i < tokens; i++) spread += Math.Pow(v[i * tokenWidth + k] - m, 2);
        }
        return (std, Math.Sqrt(spread / v.Length));
    }

    /// <summary>
    /// Seeded initializations keep activations finite and alive at depth: SD3 Medium's depths (CLIP-G 32 layers,
    /// T5 24, MMDiT 24 blocks, the full VAE structure) at small width. Stated ranges: output std in [0.1, 10] and
    /// the spread between tokens at least 0.05 (not collapsed).
    /// </summary>
    [Fact]
    public void Medium_depth_forward_passes_stay_finite_and_not_degenerate()
    {
        var w = new RandomWeights(77);
        var medium = Presets.Medium();

        var clip = medium.TextEncoder2 with { HiddenSize = 64, IntermediateSize = 256, NumAttentionHeads = 4, ProjectionDim = 64 };
        var clipIds = Tensor.FromArray(Enumerable.Range(0, 77).Select(i => (long)(i < 12 ? 300 + 17 * i : 49407)).ToArray(), 1, 77);
        var clipOut = Ort.Run(Sd3Graphs.TextEncoder(Submodule.TextEncoder2, clip, DType.Float32, w).Model,
            new Dictionary<string, Tensor> { ["input_ids"] = clipIds })["hidden_states.31"].ToFloatArray();
        var (std, spread) = Stats(clipOut, 64);
        _output.WriteLine($"CLIP-G depth 32: std {std:0.000}, token spread {spread:0.000}");
        Assert.InRange(std, 0.1, 10);
        Assert.InRange(spread, 0.05, 10);

        var t5 = medium.TextEncoder3 with { DModel = 64, DKv = 16, NumHeads = 4, DFf = 160 };
        var t5Ids = Tensor.FromArray(Enumerable.Range(0, 120).Select(i => (long)(i * 263 % 32128)).ToArray(), 1, 120);
        (std, spread) = Stats(Ort.Run(Sd3Graphs.T5Encoder(t5, DType.Float32, w).Model,
            new Dictionary<string, Tensor> { ["input_ids"] = t5Ids })["last_hidden_state"].ToFloatArray(), 64);
        _output.WriteLine($"T5 depth 24: std {std:0.000}, token spread {spread:0.000}");
        Assert.InRange(std, 0.1, 10);
        Assert.InRange(spread, 0.05, 10);

        var mmdit = medium.Transformer with { NumAttentionHeads = 4, AttentionHeadDim = 16, CaptionProjectionDim = 64, JointAttentionDim = 64, PooledProjectionDim = 64 };
        var inputs = new Dictionary<string, Tensor>
        {
            ["hidden_states"] = Ort.Normal(1, 1, 16, 16, 16),
            ["encoder_hidden_states"] = Ort.Normal(2, 1, 40, 64),
            ["pooled_projections"] = Ort.Normal(3, 1, 64),
            ["timestep"] = Tensor.FromArray(new[] { 750f }, 1),
        };
        var latent = Ort.Run(Sd3Graphs.Transformer(mmdit, DType.Float32, w).Model, inputs)["out_hidden_states"].ToFloatArray();
        (std, spread) = Stats(latent, 16 * 16); // per channel: spread across channels
        _output.WriteLine($"MMDiT depth 24: std {std:0.000}, channel spread {spread:0.000}");
        Assert.InRange(std, 0.1, 10);
        Assert.InRange(spread, 0.05, 10);

        var vae = medium.Vae with { BlockOutChannels = [32, 64, 64, 64], NormNumGroups = 8 };
        var image = Ort.Run(Sd3Graphs.VaeDecoder(vae, DType.Float32, w).Model,
            new Dictionary<string, Tensor> { ["latent_sample"] = Ort.Normal(4, 1, 16, 8, 8) })["sample"].ToFloatArray();
        (std, spread) = Stats(image, 64 * 64);
        _output.WriteLine($"VAE decoder (SD3 structure): std {std:0.000}, channel spread {spread:0.000}");
        Assert.InRange(std, 0.1, 10);
        Assert.InRange(spread, 0.05, 10);
    }

    [Fact]
    public void Tiny_forward_passes_stay_finite_and_not_degenerate()
    {
        using var t = Ort.Open(ModelRepository.Open(_repos.Path("fp32"))[Submodule.Transformer].ModelPath);
        var (std, spread) = Stats(t.Run(TransformerInputs(1, 64, 64, 109, DType.Float32))["out_hidden_states"].ToFloatArray(), 64);
        Assert.InRange(std, 0.1, 10);
        Assert.InRange(spread, 0.05, 10);
    }
}
