using System.Text.Json.Nodes;
using Sd3Mesh.Models.Configs;
using Sd3Mesh.Models.Graphs;
using Sd3Mesh.Models.Weights;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Repository;

/// <summary>
/// Writes an ONNX model repository (optimum's SD3 layout): one folder per submodule with config.json and
/// model.onnx (+ model.onnx_data holding every weight over 1 KB, 4096-aligned), scheduler/, model_index.json,
/// sd3mesh.json. Every graph is built and every checkpoint verified before the first weight is written, and
/// weights stream to disk one at a time. sd3mesh.json marks a complete folder: a rewrite removes the old one
/// before touching anything else and writes the new one last, so a write that fails midway never looks complete.
/// </summary>
public static class RepositoryWriter
{
    public sealed record Options
    {
        public required DType Precision { get; init; }
        public bool T5Int8 { get; init; }
        /// <summary>Attention kernel of the transformer and the VAE (the text encoders' masked attention is always MatMul/Softmax).</summary>
        public AttentionKernel Attention { get; init; } = AttentionKernels.Default;
        public IReadOnlyList<Submodule> Submodules { get; init; } = Sd3Mesh.Models.Submodules.All;
        public IProgress<ZooProgress>? Progress { get; init; }
        /// <summary>config.json contents per submodule folder when copied from a checkpoint (unknown fields kept).</summary>
        public IReadOnlyDictionary<Submodule, string>? ConfigJsonOverrides { get; init; }
    }

    /// <summary>Builds the graphs of <paramref name="options"/>' submodules (weights stay lazy).</summary>
    public static IReadOnlyList<BuiltModel> BuildGraphs(ModelSet set, Func<Submodule, IWeightSource> weights, Options options) =>
        options.Submodules.Select(s => Build(s, set, weights(s), options)).ToArray();

    public static BuiltModel Build(Submodule s, ModelSet set, IWeightSource weights, Options options) => s switch
    {
        Submodule.TextEncoder => Sd3Graphs.TextEncoder(s, set.TextEncoder, options.Precision, weights),
        Submodule.TextEncoder2 => Sd3Graphs.TextEncoder(s, set.TextEncoder2, options.Precision, weights),
        Submodule.TextEncoder3 => Sd3Graphs.T5Encoder(set.TextEncoder3, options.Precision, weights, options.T5Int8),
        Submodule.Transformer => Sd3Graphs.Transformer(set.Transformer, options.Precision, weights, options.Attention),
        Submodule.VaeDecoder => Sd3Graphs.VaeDecoder(set.Vae, options.Precision, weights, options.Attention),
        Submodule.VaeEncoder => Sd3Graphs.VaeEncoder(set.Vae, options.Precision, weights, options.Attention),
        _ => throw new ArgumentOutOfRangeException(nameof(s), s, null),
    };

    public static void Write(string directory, ModelSet set, Func<Submodule, IWeightSource> weights, Options options, Sd3MeshManifest manifest,
        Action<string>? writeExtras = null)
    {
        var built = BuildGraphs(set, weights, options);
        foreach (var b in built) weights(b.Submodule).Verify(b.Requests);

        Directory.CreateDirectory(directory);
        File.Delete(Path.Combine(directory, Sd3MeshManifest.FileName));
        foreach (var b in built)
        {
            var folder = Path.Combine(directory, b.Submodule.FolderName());
            Directory.CreateDirectory(folder);
            WriteConfig(folder, b.Submodule, set, options);
            long total = b.Model.ParameterBytes;
            var progress = options.Progress is { } p ? new Progress(written => p.Report(new ZooProgress(b.Submodule, written, total))) : null;
            b.Model.Save(Path.Combine(folder, RepositoryLayout.ModelFile), new SaveOptions
            {
                ExternalDataThreshold = 1024,
                ExternalDataFile = RepositoryLayout.ExternalDataFile,
                Progress = progress,
            });
        }
        ConfigJson.Write(Path.Combine(directory, RepositoryLayout.SchedulerConfigFile), set.Scheduler);
        WriteModelIndex(directory, options.Submodules);
        writeExtras?.Invoke(directory);
        ConfigJson.Write(Path.Combine(directory, Sd3MeshManifest.FileName), manifest with
        {
            Precision = Models.Precision.Name(options.Precision),
            T5Int8 = options.T5Int8 && options.Submodules.Contains(Submodule.TextEncoder3),
            Attention = options.Attention.Name(),
            Submodules = options.Submodules.Select(s => s.FolderName()).ToArray(),
            CreatedUtc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
            Sd3meshVersion = typeof(RepositoryWriter).Assembly.GetName().Version?.ToString() ?? "",
        });
    }

    private static void WriteConfig(string folder, Submodule s, ModelSet set, Options options)
    {
        var path = Path.Combine(folder, RepositoryLayout.ConfigFile);
        if (options.ConfigJsonOverrides?.TryGetValue(s, out var json) == true)
        {
            File.WriteAllText(path, json);
            return;
        }
        switch (s)
        {
            case Submodule.TextEncoder: ConfigJson.Write(path, set.TextEncoder); break;
            case Submodule.TextEncoder2: ConfigJson.Write(path, set.TextEncoder2); break;
            case Submodule.TextEncoder3: ConfigJson.Write(path, set.TextEncoder3); break;
            case Submodule.Transformer: ConfigJson.Write(path, set.Transformer); break;
            default: ConfigJson.Write(path, set.Vae); break;
        }
    }

    /// <summary>model_index.json in the form diffusers uses for ONNX pipelines (ONNX parts as OnnxRuntimeModel).</summary>
    private static void WriteModelIndex(string directory, IReadOnlyList<Submodule> submodules)
    {
        var index = new JsonObject
        {
            ["_class_name"] = "StableDiffusion3Pipeline",
            ["_diffusers_version"] = "0.31.0",
            ["scheduler"] = new JsonArray("diffusers", "FlowMatchEulerDiscreteScheduler"),
        };
        foreach (var s in submodules) index[s.FolderName()] = new JsonArray("diffusers", "OnnxRuntimeModel");
        index["tokenizer"] = new JsonArray("transformers", "CLIPTokenizer");
        index["tokenizer_2"] = new JsonArray("transformers", "CLIPTokenizer");
        index["tokenizer_3"] = new JsonArray("transformers", "T5TokenizerFast");
        File.WriteAllText(Path.Combine(directory, RepositoryLayout.ModelIndexFile), index.ToJsonString(ConfigJson.Options) + "\n");
    }

    /// <summary>Synchronous IProgress (System.Progress posts to a context; the writer reports from its own thread).</summary>
    private sealed class Progress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
