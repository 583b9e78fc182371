using System.Text.Json.Nodes;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Models.Tokenizers;
using Sd3Mesh.Models.Weights;
using Sd3Mesh.Onnx.Proto;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Tests;

/// <summary>diffusers folder (our safetensors writer) -> convert -> the same ONNX weights as creating them directly.</summary>
public sealed class ConversionTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    private static Dictionary<string, Tensor> Initializers(string modelPath)
    {
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath));
        return proto.Graph.Initializer.ToDictionary(t => t.Name, t => TensorProtos.ToTensor(t, Path.GetDirectoryName(modelPath)));
    }

    private void AssertSameWeights(string expectedRoot, string actualRoot)
    {
        foreach (var s in Submodules.All)
        {
            var expected = Initializers(Path.Combine(expectedRoot, s.FolderName(), "model.onnx"));
            var actual = Initializers(Path.Combine(actualRoot, s.FolderName(), "model.onnx"));
            Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
            foreach (var (name, t) in expected)
            {
                Assert.Equal(t.DType, actual[name].DType);
                Assert.Equal(t.Shape, actual[name].Shape);
                Assert.True(t.Data.Span.SequenceEqual(actual[name].Data.Span), $"{s.FolderName()}: initializer '{name}' differs");
            }
        }
    }

    /// <summary>The converted and the created repositories compute the same outputs, bit for bit, under ONNX Runtime.</summary>
    private static void AssertSameOutputs(string expectedRoot, string actualRoot, DType dtype)
    {
        var inputs = new Dictionary<string, Tensor>
        {
            ["hidden_states"] = Ort.Normal(1, 2, 16, 8, 8).ToDType(dtype),
            ["encoder_hidden_states"] = Ort.Normal(2, 2, 20, 64).ToDType(dtype),
            ["pooled_projections"] = Ort.Normal(3, 2, 64).ToDType(dtype),
            ["timestep"] = Tensor.FromArray(new[] { 1000f, 500f }, 2),
        };
        var ids = Tensor.FromArray(Enumerable.Range(0, 77).Select(i => (long)(i < 6 ? 300 + i : 49407)).ToArray(), 1, 77);
        foreach (var (s, feed) in new (Submodule, Dictionary<string, Tensor>)[]
                 {
                     (Submodule.Transformer, inputs),
                     (Submodule.TextEncoder3, new() { ["input_ids"] = Tensor.FromArray(Enumerable.Range(0, 30).Select(i => (long)(i * 1001)).ToArray(), 1, 30) }),
                     (Submodule.TextEncoder2, new() { ["input_ids"] = ids }),
                     (Submodule.VaeDecoder, new() { ["latent_sample"] = Ort.Normal(4, 1, 16, 4, 4).ToDType(dtype) }),
                 })
        {
            using var a = Ort.Open(Path.Combine(expectedRoot, s.FolderName(), "model.onnx"));
            using var b = Ort.Open(Path.Combine(actualRoot, s.FolderName(), "model.onnx"));
            var x = a.Run(feed);
            var y = b.Run(feed);
            foreach (var (name, t) in x)
                Assert.True(t.Data.Span.SequenceEqual(y[name].Data.Span), $"{s.FolderName()}: output '{name}' differs");
        }
    }

    [Theory]
    [InlineData("fp32", false)]
    [InlineData("fp16", true)]
    public void Float32_checkpoints_convert_to_exactly_the_created_weights(string precision, bool shardT5)
    {
        var dtype = Precision.Parse(precision);
        var set = Presets.Tiny();
        DiffusersFixture.Write(_dir.Sub("diffusers"), set, new RandomWeights(11), DType.Float32, shardT5);
        ModelConverter.Convert(_dir.Sub("diffusers"), _dir.Sub("converted"), dtype);
        ModelZoo.Create("tiny", dtype, 11, _dir.Sub("created"));
        AssertSameWeights(_dir.Sub("created"), _dir.Sub("converted"));
        AssertSameOutputs(_dir.Sub("created"), _dir.Sub("converted"), dtype);

        var repo = ModelRepository.Open(_dir.Sub("converted"));
        Assert.Equal("diffusers", repo.Manifest!.Source);
        Assert.Equal(File.ReadAllText(_dir.Sub("diffusers/transformer/config.json")), File.ReadAllText(_dir.Sub("converted/transformer/config.json")));
        Assert.Equal(File.ReadAllText(_dir.Sub("diffusers/vae/config.json")), File.ReadAllText(_dir.Sub("converted/vae_encoder/config.json")));
        foreach (var (folder, file) in new[] { ("tokenizer", "vocab.json"), ("tokenizer_2", "tokenizer_config.json"), ("tokenizer_3", "tokenizer.json") })
            Assert.Equal(File.ReadAllBytes(_dir.Sub($"diffusers/{folder}/{file}")), File.ReadAllBytes(_dir.Sub($"converted/{folder}/{file}")));
    }

    /// <summary>
    /// A T5 tokenizer.json with a plain NFKC normalizer (the issue's case) converts and loads. transformers 5's
    /// T5 tokenizer keeps only a Precompiled normalizer, so SD3 runs without NFKC; the tokenizers library, which
    /// reads the file as it is, applies it.
    /// </summary>
    [Fact]
    public void A_T5_tokenizer_with_an_NFKC_normalizer_converts_and_loads()
    {
        var src = _dir.Sub("diffusers");
        DiffusersFixture.Write(src, Presets.Tiny(), new RandomWeights(2));
        EditTokenizerJson(src, "tokenizer_3", json => json["normalizer"] = new JsonObject { ["type"] = "NFKC" });
        ModelConverter.Convert(src, _dir.Sub("converted"), DType.Float32);
        var t5 = Sd3Tokenizers.Load(_dir.Sub("converted")).T5!;
        Assert.Null(t5.Normalizer);
        Assert.Equal(["▁a", "▁cat"], t5.TokenIds("a cat").Select(i => t5.IdToToken(i)));
        var asFile = TokenizerFolder.Load(_dir.Sub("converted/tokenizer_3"), TokenizerClass.FromFile);
        Assert.Equal(asFile.TokenIds("a cat"), asFile.TokenIds("ａ ｃａｔ"));
        Assert.NotEqual(t5.TokenIds("a cat"), t5.TokenIds("ａ ｃａｔ"));
    }

    [Fact]
    public void Tokenizers_the_pipeline_cannot_use_are_refused_before_anything_is_written()
    {
        var src = _dir.Sub("diffusers");
        DiffusersFixture.Write(src, Presets.Tiny(), new RandomWeights(4));

        // transformers 5 builds T5's pipeline itself, but its vocabulary comes from tokenizer.json.
        EditTokenizerJson(src, "tokenizer_3", json => json["model"]!["type"] = "WordPiece");
        var ex = Assert.Throws<ModelFormatException>(() => ModelConverter.Convert(src, _dir.Sub("out"), DType.Float32));
        Assert.Equal($"tokenizer_3/ (T5TokenizerFast) cannot be loaded: {Path.Combine(src, "tokenizer_3", "tokenizer.json")}: model type 'WordPiece' is not Unigram, which T5Tokenizer needs", ex.Message);
        Assert.False(Directory.Exists(_dir.Sub("out")));

        TokenizerFiles.WriteSyntheticT5(Path.Combine(src, "tokenizer_3"));
        File.Delete(Path.Combine(src, "tokenizer_2", "merges.txt"));
        ex = Assert.Throws<ModelFormatException>(() => ModelConverter.Convert(src, _dir.Sub("out"), DType.Float32));
        Assert.Equal($"tokenizer_2/ (CLIPTokenizer) cannot be loaded: '{Path.Combine(src, "tokenizer_2")}' is not a CLIP tokenizer folder: tokenizer.json, or vocab.json and merges.txt, are needed", ex.Message);

        TokenizerFiles.WriteClip(Path.Combine(src, "tokenizer_2"), TokenizerFiles.ClipGPadToken);
        Directory.Delete(Path.Combine(src, "tokenizer_3"), recursive: true);
        ex = Assert.Throws<ModelFormatException>(() => ModelConverter.Convert(src, _dir.Sub("out"), DType.Float32));
        Assert.Equal($"{Path.Combine(src, "tokenizer_3")} is missing: text_encoder_3/ needs its T5 tokenizer", ex.Message);
        Assert.False(Directory.Exists(_dir.Sub("out")));
    }

    [Fact]
    public void A_tokenizer_whose_ids_exceed_the_text_encoders_vocabulary_is_refused()
    {
        var src = _dir.Sub("diffusers");
        var set = Presets.Tiny();
        DiffusersFixture.Write(src, set with { TextEncoder2 = set.TextEncoder2 with { VocabSize = 1000 } }, new RandomWeights(6));
        var ex = Assert.Throws<ModelFormatException>(() => ModelConverter.Convert(src, _dir.Sub("out"), DType.Float32));
        Assert.Equal("tokenizer_2/ produces ids up to 49407, but its text encoder's vocab_size is 1000", ex.Message);
    }

    private static void EditTokenizerJson(string root, string folder, Action<JsonObject> edit)
    {
        var path = Path.Combine(root, folder, "tokenizer.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
    }

    [Fact]
    public void Bfloat16_checkpoints_convert_to_the_bfloat16_rounded_weights()
    {
        var set = Presets.Tiny();
        DiffusersFixture.Write(_dir.Sub("diffusers"), set, new RandomWeights(5), DType.BFloat16);
        ModelConverter.Convert(_dir.Sub("diffusers"), _dir.Sub("converted"), DType.Float32);
        var rounded = new RoundedWeights(new RandomWeights(5), DType.BFloat16);
        RepositoryWriter.Write(_dir.Sub("expected"), set, _ => rounded, new RepositoryWriter.Options { Precision = DType.Float32 }, new Sd3MeshManifest());
        AssertSameWeights(_dir.Sub("expected"), _dir.Sub("converted"));
    }

    [Fact]
    public void T5_can_be_converted_to_int8()
    {
        DiffusersFixture.Write(_dir.Sub("diffusers"), Presets.Tiny(), new RandomWeights(8), DType.BFloat16);
        ModelConverter.Convert(_dir.Sub("diffusers"), _dir.Sub("int8"), DType.Float32, t5Int8: true);
        ModelConverter.Convert(_dir.Sub("diffusers"), _dir.Sub("fp32"), DType.Float32);
        var repo = ModelRepository.Open(_dir.Sub("int8"));
        Assert.True(repo.Manifest!.T5Int8);
        Assert.Contains(repo[Submodule.TextEncoder3].Signature.Initializers, i => i.DType == DType.Int8);
        Assert.DoesNotContain(repo[Submodule.Transformer].Signature.Initializers, i => i.DType == DType.Int8);
        var ids = new Dictionary<string, Tensor> { ["input_ids"] = Tensor.FromArray(Enumerable.Range(0, 24).Select(i => (long)(i * 977)).ToArray(), 1, 24) };
        using var a = Ort.Open(Path.Combine(_dir.Sub("fp32"), "text_encoder_3", "model.onnx"));
        using var b = Ort.Open(repo[Submodule.TextEncoder3].ModelPath);
        var expected = a.Run(ids)["last_hidden_state"].ToFloatArray().Select(v => (double)v).ToArray();
        Assert.InRange(Reference.Ref.RelL2(b.Run(ids)["last_hidden_state"].ToFloatArray(), expected), 1e-5, 3e-2);
    }

    [Fact]
    public void A_folder_without_model_index_is_not_a_pipeline()
    {
        Directory.CreateDirectory(_dir.Sub("empty"));
        var ex = Assert.Throws<ModelFormatException>(() => ModelConverter.Convert(_dir.Sub("empty"), _dir.Sub("out"), DType.Float32));
        Assert.Equal($"{_dir.Sub("empty/model_index.json")} is missing (expected a diffusers StableDiffusion3Pipeline folder)", ex.Message);
    }

    [Fact]
    public void Missing_config_and_invalid_config_are_named()
    {
        var src = _dir.Sub("diffusers");
        DiffusersFixture.Write(src, Presets.Tiny(), new RandomWeights(1));
        File.Delete(Path.Combine(src, "transformer/config.json"));
        Assert.Equal($"{Path.Combine(src, "transformer/config.json")} is missing",
            Assert.Throws<ModelFormatException>(() => ModelConverter.Convert(src, _dir.Sub("out"), DType.Float32)).Message);

        Configs.ConfigJson.Write(Path.Combine(src, "transformer/config.json"), Presets.Tiny().Transformer with { CaptionProjectionDim = 48 });
        Assert.Equal($"{Path.Combine(src, "transformer/config.json")}: caption_projection_dim (48) must equal num_attention_heads * attention_head_dim (32)",
            Assert.Throws<ModelFormatException>(() => ModelConverter.Convert(src, _dir.Sub("out"), DType.Float32)).Message);

        Configs.ConfigJson.Write(Path.Combine(src, "transformer/config.json"), Presets.Tiny().Transformer with { QkNorm = "layer_norm" });
        Assert.Equal($"{Path.Combine(src, "transformer/config.json")}: qk_norm 'layer_norm' is not supported (expected null or \"rms_norm\")",
            Assert.Throws<ModelFormatException>(() => ModelConverter.Convert(src, _dir.Sub("out"), DType.Float32)).Message);
    }

    [Fact]
    public void Mismatched_and_missing_tensors_are_named_before_anything_is_written()
    {
        var src = _dir.Sub("diffusers");
        var set = Presets.Tiny();
        // The transformer checkpoint was saved for another width of the context embedder.
        DiffusersFixture.Write(src, set with { Transformer = set.Transformer with { JointAttentionDim = 48 } }, new RandomWeights(1));
        Configs.ConfigJson.Write(Path.Combine(src, "transformer/config.json"), set.Transformer);
        var ex = Assert.Throws<ModelFormatException>(() => ModelConverter.Convert(src, _dir.Sub("out"), DType.Float32));
        Assert.Equal("transformer: tensor 'context_embedder.weight' in diffusion_pytorch_model.safetensors has shape [32, 48], expected [32, 64]", ex.Message);
        Assert.False(Directory.Exists(_dir.Sub("out/text_encoder")));

        // A VAE checkpoint lacking a tensor.
        DiffusersFixture.Write(src, set, new RandomWeights(1));
        var vae = Path.Combine(src, "vae/diffusion_pytorch_model.safetensors");
        Dictionary<string, Tensor> kept;
        using (var file = SafetensorsFile.Open(vae))
            kept = file.Entries.Keys.Where(k => k != "decoder.mid_block.attentions.0.to_q.weight").ToDictionary(k => k, file.Read);
        SafetensorsWriter.Write(vae, kept);
        ex = Assert.Throws<ModelFormatException>(() => ModelConverter.Convert(src, _dir.Sub("out"), DType.Float32));
        Assert.Equal($"vae: tensor 'decoder.mid_block.attentions.0.to_q.weight' is missing from {Path.Combine(src, "vae")} (diffusion_pytorch_model.safetensors)", ex.Message);
    }

    [Fact]
    public void Legacy_vae_attention_names_are_accepted()
    {
        var src = _dir.Sub("diffusers");
        DiffusersFixture.Write(src, Presets.Tiny(), new RandomWeights(3));
        var vae = Path.Combine(src, "vae/diffusion_pytorch_model.safetensors");
        Dictionary<string, Tensor> renamed;
        using (var file = SafetensorsFile.Open(vae))
            renamed = file.Entries.Keys.ToDictionary(
                k => k.Replace("attentions.0.to_q.", "attentions.0.query.").Replace("attentions.0.to_out.0.", "attentions.0.proj_attn."),
                file.Read);
        SafetensorsWriter.Write(vae, renamed);
        ModelConverter.Convert(src, _dir.Sub("converted"), DType.Float32);
        ModelZoo.Create("tiny", DType.Float32, 3, _dir.Sub("created"));
        AssertSameWeights(_dir.Sub("created"), _dir.Sub("converted"));
    }
}
