using Sd3Mesh.Models.Configs;
using Sd3Mesh.Models.Graphs;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Models.Weights;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Tests;

public sealed class ZooTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_same_seed_writes_the_same_bytes_and_another_seed_does_not()
    {
        var only = new[] { Submodule.Transformer };
        ModelZoo.Create("tiny", DType.Float32, 9, _dir.Sub("a"), submodules: only);
        ModelZoo.Create("tiny", DType.Float32, 9, _dir.Sub("b"), submodules: only);
        ModelZoo.Create("tiny", DType.Float32, 10, _dir.Sub("c"), submodules: only);
        byte[] Data(string r) => File.ReadAllBytes(Path.Combine(_dir.Sub(r), "transformer", "model.onnx_data"));
        Assert.Equal(Data("a"), Data("b"));
        Assert.NotEqual(Data("a"), Data("c"));
        Assert.Equal(File.ReadAllBytes(_dir.Sub("a/transformer/model.onnx")), File.ReadAllBytes(_dir.Sub("b/transformer/model.onnx")));
    }

    [Fact]
    public void The_cache_honours_xdg_and_builds_once()
    {
        var previous = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        Environment.SetEnvironmentVariable("XDG_CACHE_HOME", _dir.Path);
        try
        {
            Assert.Equal(Path.Combine(_dir.Path, "sd3mesh", "models"), ModelZoo.CacheRoot());
            var first = ModelZoo.EnsureCached("tiny", DType.Float16, 4);
            Assert.Equal(Path.Combine(_dir.Path, "sd3mesh", "models", $"tiny-fp16-seed4-contrib-g{Sd3Graphs.Revision}-v{Sd3MeshManifest.CurrentFormat}"), first);
            var stamp = File.GetLastWriteTimeUtc(Path.Combine(first, "sd3mesh.json"));
            Assert.Equal(first, ModelZoo.EnsureCached("TINY", DType.Float16, 4));
            Assert.Equal(stamp, File.GetLastWriteTimeUtc(Path.Combine(first, "sd3mesh.json")));
            Assert.Equal([$"tiny-fp16-seed4-contrib-g{Sd3Graphs.Revision}-v{Sd3MeshManifest.CurrentFormat}"],
                Directory.GetFileSystemEntries(ModelZoo.CacheRoot()).Select(Path.GetFileName)); // no temporary folder left
            var repo = ModelRepository.Open(first);
            Assert.Equal(6, repo.Submodules.Count);
            // Tokenizer folders in Hugging Face's layout: CLIP-L pads with <|endoftext|>, CLIP-G with "!", T5 is a tokenizer.json.
            Assert.Contains("\"pad_token\": \"<|endoftext|>\"", File.ReadAllText(Path.Combine(repo.TokenizerDirectory(1)!, "special_tokens_map.json")));
            Assert.Contains("\"pad_token\": \"!\"", File.ReadAllText(Path.Combine(repo.TokenizerDirectory(2)!, "special_tokens_map.json")));
            Assert.True(File.Exists(Path.Combine(repo.TokenizerDirectory(3)!, "tokenizer.json")));
        }
        finally
        {
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", previous);
        }
    }

    [Fact]
    public void Unknown_presets_and_precisions_are_refused_with_the_choices()
    {
        Assert.Equal("unknown preset 'large': expected tiny or medium", Assert.Throws<FormatException>(() => Presets.Get("large")).Message);
        Assert.Equal("unknown precision 'int4': expected fp32 or fp16", Assert.Throws<FormatException>(() => Precision.Parse("int4")).Message);
        Assert.Equal("unknown precision 'bf16': expected fp32 or fp16", Assert.Throws<FormatException>(() => Precision.Parse("bf16")).Message);
        Assert.Equal("unknown submodule 'vae': expected one of text_encoder, text_encoder_2, text_encoder_3, transformer, vae_decoder, vae_encoder",
            Assert.Throws<FormatException>(() => Submodules.ParseList("transformer,vae")).Message);
    }

    /// <summary>
    /// The medium preset has SD3 Medium's state-dict sizes: CLIP-L with projection 123,650,304; OpenCLIP bigG with
    /// projection 694,659,840; T5-XXL encoder 4,762,310,656; MMDiT 2,028,328,000 parameters plus the 192x192x1536
    /// pos_embed buffer, less the last block's add_q_proj (2,360,832), whose output diffusers discards and which is
    /// therefore not stored. (Graphs only: no weight is materialized.)
    /// </summary>
    [Fact]
    public void Medium_matches_sd3_medium_parameter_counts()
    {
        var set = Presets.Medium();
        var none = new RandomWeights(0);
        long Count(BuiltModel b) => b.Requests.Sum(r => r.Shape.ElementCount);
        Assert.Equal(123_650_304, Count(Sd3Graphs.TextEncoder(Submodule.TextEncoder, set.TextEncoder, DType.Float16, none)));
        Assert.Equal(694_659_840, Count(Sd3Graphs.TextEncoder(Submodule.TextEncoder2, set.TextEncoder2, DType.Float16, none)));
        Assert.Equal(4_762_310_656, Count(Sd3Graphs.T5Encoder(set.TextEncoder3, DType.Float16, none)));
        Assert.Equal(2_028_328_000 + 192L * 192 * 1536 - 2_360_832, Count(Sd3Graphs.Transformer(set.Transformer, DType.Float16, none)));
    }

    [Fact]
    public void Configs_round_trip_in_the_diffusers_and_transformers_field_names()
    {
        var json = ConfigJson.Serialize(Presets.Medium().Transformer);
        Assert.Contains("\"_class_name\": \"SD3Transformer2DModel\"", json);
        Assert.Contains("\"caption_projection_dim\": 1536", json);
        Assert.Contains("\"pos_embed_max_size\": 192", json);
        Assert.DoesNotContain("inner_dim", json);
        var t5 = ConfigJson.Parse<T5EncoderConfig>("{\"d_model\": 4096, \"d_kv\": 64, \"d_ff\": 10240, \"feed_forward_proj\": \"gated-gelu\", \"num_heads\": 64}");
        Assert.Equal(4096, t5.DModel);
        Assert.True(t5.Gated);
        Assert.Equal("gelu_new", t5.Activation);
        Assert.Equal("relu", new T5EncoderConfig().Activation);
        Assert.False(new T5EncoderConfig().Gated);
    }

    /// <summary>
    /// The analytic MMDiT count for SD3 Medium at 1024x1024 (N = 4096) with 333 text tokens, written out from the
    /// formula in docs/benchmarks.md: 23 full blocks, the context_pre_only block, embeddings and output.
    /// </summary>
    [Fact]
    public void Mmdit_flops_follow_the_documented_formula()
    {
        const long n = 4096, t = 333, d = 1536;
        long block = 24 * (n + t) * d * d + 4 * (n + t) * (n + t) * d + 24 * d * d;
        long last = 20 * n * d * d + 4 * (n + t) * d * d + 4 * n * (n + t) * d + 16 * d * d;
        long embed = 2 * n * 64 * d + 2 * t * 4096 * d + 2 * (256 * d + 2048 * d + 2 * d * d) + 4 * d * d + 2 * n * d * 64;
        Assert.Equal(8_893_704_726_528L, 23 * block + last + embed);
        Assert.Equal(8_893_704_726_528.0, MmditFlops.PerSample(Presets.Medium().Transformer, 1024, 1024, 333));
    }
}
