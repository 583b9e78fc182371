using Sd3Mesh.Models.Graphs;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Models.Weights;
using Sd3Mesh.Onnx.Proto;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Tests;

public sealed class RepositoryTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_created_repository_lists_submodules_configs_and_signatures()
    {
        ModelZoo.Create("tiny", DType.Float16, 2, _dir.Path, submodules: [Submodule.Transformer, Submodule.VaeDecoder]);
        var repo = ModelRepository.Open(_dir.Path);
        Assert.Equal([Submodule.Transformer, Submodule.VaeDecoder], repo.Submodules.Select(s => s.Submodule).Order());
        Assert.Equal(1.5305, repo.Vae.ScalingFactor);
        Assert.Equal(0.0609, repo.Vae.ShiftFactor);
        Assert.Equal(3.0, repo.Scheduler.Shift);
        Assert.Equal(1000, repo.Scheduler.NumTrainTimesteps);
        Assert.Equal("tiny", repo.Manifest!.Preset);
        Assert.Equal(2UL, repo.Manifest.Seed);
        Assert.Equal("fp16", repo.Manifest.Precision);
        Assert.Equal(32, repo.TransformerConfig.InnerDim);

        var t = repo[Submodule.Transformer];
        Assert.Equal("hidden_states: float16[batch, 16, height, width]", t.Input("hidden_states").ToString());
        Assert.Equal("timestep: float32[batch]", t.Input("timestep").ToString());
        Assert.Equal("out_hidden_states: float16[batch, 16, height, width]", t.Output("out_hidden_states").ToString());
        Assert.NotNull(t.ExternalDataPath);
        Assert.Equal($"{Path.Combine(_dir.Path, "text_encoder")} is missing",
            Assert.Throws<ModelFormatException>(() => repo[Submodule.TextEncoder]).Message);
    }

    [Fact]
    public void Signatures_are_read_without_the_weights_and_agree_with_the_full_parse()
    {
        var built = Sd3Graphs.TextEncoder(Submodule.TextEncoder, Presets.Tiny().TextEncoder, DType.Float32, new RandomWeights(1));
        var inline = _dir.Sub("inline.onnx");
        File.WriteAllBytes(inline, built.Model.ToBytes());
        var external = _dir.Sub("ext/model.onnx");
        built.Model.Save(external);
        foreach (var path in new[] { inline, external })
        {
            var sig = OnnxSignature.Read(path);
            var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
            Assert.Equal(proto.Graph.Input.Select(i => i.Name), sig.Inputs.Select(i => i.Name));
            Assert.Equal(proto.Graph.Output.Select(i => i.Name), sig.Outputs.Select(i => i.Name));
            Assert.Equal(proto.Graph.Initializer.Select(i => i.Name), sig.Initializers.Select(i => i.Name));
            Assert.Equal(built.Model.ParameterCount, sig.ParameterCount);
            Assert.Equal(built.Model.ParameterBytes, sig.ParameterBytes);
            Assert.Equal(17, sig.Opsets[""]);
            Assert.Equal("text_encoder", sig.Metadata["sd3mesh.submodule"]);
        }
    }

    /// <summary>An optimum-style export: int32 input_ids, fp16 timestep, "out_sample", no sd3mesh.json.</summary>
    [Fact]
    public void Optimum_style_names_and_types_resolve()
    {
        void Model(string folder, Action<GraphBuilder> define)
        {
            var g = new GraphBuilder(folder);
            define(g);
            Directory.CreateDirectory(_dir.Sub(folder));
            File.WriteAllBytes(_dir.Sub($"{folder}/model.onnx"), g.Build().ToBytes());
            File.WriteAllText(_dir.Sub($"{folder}/config.json"), "{}");
        }
        Model("text_encoder", g =>
        {
            var ids = g.Input("input_ids", DType.Int32, "batch_size", "sequence_length");
            var f = g.Cast(ids, DType.Float32);
            g.Output(f, "text_embeds", DType.Float32);
            g.Output(g.Neg(f), "last_hidden_state", DType.Float32);
        });
        Model("transformer", g =>
        {
            var h = g.Input("hidden_states", DType.Float16, "batch_size", 16, "height", "width");
            g.Input("encoder_hidden_states", DType.Float16, "batch_size", "sequence_length", 4096);
            g.Input("pooled_projections", DType.Float16, "batch_size", 2048);
            g.Input("timestep", DType.Float16, "step");
            g.Output(g.Neg(h), "out_sample", DType.Float16);
        });
        Directory.CreateDirectory(_dir.Sub("scheduler"));
        File.WriteAllText(_dir.Sub("scheduler/scheduler_config.json"), "{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\", \"shift\": 3.0}");

        var repo = ModelRepository.Open(_dir.Path);
        Assert.Null(repo.Manifest);
        Assert.Equal(DType.Int32, repo[Submodule.TextEncoder].Input("input_ids").DType);
        Assert.Equal("out_sample", repo[Submodule.Transformer].Output("out_hidden_states").Name);
        Assert.Equal(DType.Float16, repo[Submodule.Transformer].Input("timestep").DType);
        Assert.Null(repo[Submodule.Transformer].Input("timestep").Shape![0].Value);
        Assert.Equal($"{repo[Submodule.TextEncoder].ModelPath} has no output 'hidden_states.11' (outputs: text_embeds, last_hidden_state)",
            Assert.Throws<ModelFormatException>(() => repo[Submodule.TextEncoder].Output("hidden_states.11")).Message);
    }

    /// <summary>Reads like its inner source verifies, but fails once weights stream to disk (a full disk, a bad shard, Ctrl-C).</summary>
    private sealed class FailingWeights : IWeightSource
    {
        public float[] Read(string name, TensorShape shape, WeightInit init) => throw new IOException($"cannot read '{name}'");
        public void Verify(IReadOnlyList<WeightRequest> requests) { }
    }

    [Fact]
    public void Rewriting_a_repository_removes_its_manifest_first_so_a_failed_write_never_looks_complete()
    {
        ModelZoo.Create("tiny", DType.Float32, 1, _dir.Path, submodules: [Submodule.VaeDecoder]);
        Assert.NotNull(Sd3MeshManifest.TryRead(_dir.Path));

        var options = new RepositoryWriter.Options { Precision = DType.Float16, Submodules = [Submodule.VaeDecoder] };
        Assert.Throws<IOException>(() =>
            RepositoryWriter.Write(_dir.Path, Presets.Tiny(), _ => new FailingWeights(), options, new Sd3MeshManifest { Preset = "tiny", Seed = 2 }));
        Assert.Null(Sd3MeshManifest.TryRead(_dir.Path));
    }

    [Fact]
    public void Broken_folders_fail_on_open_naming_the_file()
    {
        Assert.Equal($"{_dir.Sub("nope")} is missing", Assert.Throws<ModelFormatException>(() => ModelRepository.Open(_dir.Sub("nope"))).Message);
        Assert.Equal(
            $"{_dir.Path} is not an SD3 ONNX model repository (it has none of text_encoder/, text_encoder_2/, text_encoder_3/, transformer/, vae_decoder/, vae_encoder/)",
            Assert.Throws<ModelFormatException>(() => ModelRepository.Open(_dir.Path)).Message);

        ModelZoo.Create("tiny", DType.Float32, 1, _dir.Path, submodules: [Submodule.VaeDecoder, Submodule.Transformer]);
        File.Delete(_dir.Sub("vae_decoder/model.onnx"));
        Assert.Equal($"{_dir.Sub("vae_decoder/model.onnx")} is missing", Assert.Throws<ModelFormatException>(() => ModelRepository.Open(_dir.Path)).Message);
        Directory.Delete(_dir.Sub("vae_decoder"), true);

        // A transformer without the timestep input.
        var g = new GraphBuilder("transformer");
        var h = g.Input("hidden_states", DType.Float32, "b", 16, "h", "w");
        g.Input("encoder_hidden_states", DType.Float32, "b", "s", 64);
        g.Input("pooled_projections", DType.Float32, "b", 64);
        g.Output(g.Neg(h), "out_hidden_states", DType.Float32);
        g.Build().Save(_dir.Sub("transformer/model.onnx"));
        Assert.Equal($"{_dir.Sub("transformer/model.onnx")} has no input 'timestep' (inputs: hidden_states, encoder_hidden_states, pooled_projections)",
            Assert.Throws<ModelFormatException>(() => ModelRepository.Open(_dir.Path)).Message);

        File.WriteAllText(_dir.Sub("transformer/model.onnx"), "not a model");
        Assert.StartsWith($"{_dir.Sub("transformer/model.onnx")} is not an ONNX model",
            Assert.Throws<ModelFormatException>(() => ModelRepository.Open(_dir.Path)).Message);
    }
}
