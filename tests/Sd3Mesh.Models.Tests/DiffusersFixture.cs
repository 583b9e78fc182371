using System.Text.Json.Nodes;
using Sd3Mesh.Models.Configs;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Models.Tokenizers;
using Sd3Mesh.Models.Weights;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Tests;

/// <summary>
/// Writes a diffusers StableDiffusion3Pipeline folder from a weight source (PyTorch layout, state-dict names),
/// as the real SD3 repository lays it out: vae/ holds encoder and decoder, text_encoder_3/ may be sharded.
/// </summary>
public static class DiffusersFixture
{
    public static void Write(string dir, ModelSet set, IWeightSource weights, DType storeAs = DType.Float32, bool shardT5 = false)
    {
        var options = new RepositoryWriter.Options { Precision = DType.Float32 };
        var built = RepositoryWriter.BuildGraphs(set, _ => weights, options).ToDictionary(b => b.Submodule);
        IEnumerable<WeightRequest> Requests(params Submodule[] s) =>
            s.SelectMany(x => built[x].Requests).DistinctBy(r => r.Name);

        void Save(string folder, string file, IEnumerable<WeightRequest> requests)
        {
            var list = requests.Select(r => (r.Name, storeAs, r.Shape,
                (Func<Tensor>)(() => Tensor.FromArray(weights.Read(r.Name, r.Shape, r.Init), r.Shape).ToDType(storeAs)))).ToList();
            SafetensorsWriter.Write(Path.Combine(dir, folder, file), list, new Dictionary<string, string> { ["format"] = "pt" });
        }

        Save("text_encoder", "model.safetensors", Requests(Submodule.TextEncoder));
        Save("text_encoder_2", "model.safetensors", Requests(Submodule.TextEncoder2));
        Save("transformer", "diffusion_pytorch_model.safetensors", Requests(Submodule.Transformer));
        Save("vae", "diffusion_pytorch_model.safetensors", Requests(Submodule.VaeEncoder, Submodule.VaeDecoder));
        var t5 = Requests(Submodule.TextEncoder3).ToList();
        if (!shardT5) Save("text_encoder_3", "model.safetensors", t5);
        else
        {
            var first = t5.Take(t5.Count / 2).ToList();
            var second = t5.Skip(t5.Count / 2).ToList();
            Save("text_encoder_3", "model-00001-of-00002.safetensors", first);
            Save("text_encoder_3", "model-00002-of-00002.safetensors", second);
            var map = new JsonObject();
            foreach (var r in first) map[r.Name] = "model-00001-of-00002.safetensors";
            foreach (var r in second) map[r.Name] = "model-00002-of-00002.safetensors";
            File.WriteAllText(Path.Combine(dir, "text_encoder_3", "model.safetensors.index.json"),
                new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString());
        }

        ConfigJson.Write(Path.Combine(dir, "text_encoder", "config.json"), set.TextEncoder);
        ConfigJson.Write(Path.Combine(dir, "text_encoder_2", "config.json"), set.TextEncoder2);
        ConfigJson.Write(Path.Combine(dir, "text_encoder_3", "config.json"), set.TextEncoder3);
        ConfigJson.Write(Path.Combine(dir, "transformer", "config.json"), set.Transformer);
        ConfigJson.Write(Path.Combine(dir, "vae", "config.json"), set.Vae);
        ConfigJson.Write(Path.Combine(dir, "scheduler", "scheduler_config.json"), set.Scheduler);
        File.WriteAllText(Path.Combine(dir, "model_index.json"), "{\"_class_name\": \"StableDiffusion3Pipeline\"}");
        foreach (var folder in RepositoryLayout.TokenizerFolders)
        {
            Directory.CreateDirectory(Path.Combine(dir, folder));
            foreach (var file in Directory.GetFiles(Path.Combine(TokenizerTemplate.Value, folder)))
                File.Copy(file, Path.Combine(dir, folder, Path.GetFileName(file)), overwrite: true);
        }
    }

    /// <summary>SD3's tokenizer folders as the model zoo writes them, written once per test run and copied from there.</summary>
    private static readonly Lazy<string> TokenizerTemplate = new(() =>
    {
        var root = Directory.CreateTempSubdirectory("sd3mesh-tokenizer-template-").FullName;
        TokenizerFiles.WriteClip(Path.Combine(root, "tokenizer"), TokenizerFiles.ClipLPadToken);
        TokenizerFiles.WriteClip(Path.Combine(root, "tokenizer_2"), TokenizerFiles.ClipGPadToken);
        TokenizerFiles.WriteSyntheticT5(Path.Combine(root, "tokenizer_3"));
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(root, true); } catch (IOException) { } };
        return root;
    });
}

/// <summary>A weight source whose values are rounded through another dtype (what a BF16 checkpoint holds).</summary>
public sealed class RoundedWeights(IWeightSource inner, DType through) : IWeightSource
{
    public float[] Read(string name, TensorShape shape, WeightInit init) =>
        Tensor.FromArray(inner.Read(name, shape, init), shape).ToDType(through).ToFloatArray();

    public void Verify(IReadOnlyList<WeightRequest> requests) => inner.Verify(requests);
}
