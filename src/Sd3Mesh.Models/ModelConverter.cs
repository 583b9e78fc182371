using Sd3Mesh.Models.Configs;
using Sd3Mesh.Models.Graphs;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Models.Tokenizers;
using Sd3Mesh.Models.Weights;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models;

/// <summary>
/// Converts a diffusers StableDiffusion3Pipeline folder (model_index.json; text_encoder/, text_encoder_2/,
/// optionally text_encoder_3/, transformer/, vae/, each with config.json and safetensors weights, sharded or
/// not; scheduler/; tokenizer*/) into an ONNX model repository. Weights are read one tensor at a time, so the
/// memory needed is of the order of the largest tensor, not of the model. Configs, the scheduler config and
/// the tokenizer folders are copied as they are. The tokenizers are loaded as diffusers loads them before
/// anything is converted, so a folder the pipeline could not use is refused with the reason, and loaded
/// again from the output once written.
/// </summary>
public static class ModelConverter
{
    public static void Convert(string fromDir, string outDir, DType precision, bool t5Int8 = false, IProgress<ZooProgress>? progress = null,
        AttentionKernel attention = AttentionKernels.Default)
    {
        fromDir = Path.GetFullPath(fromDir);
        outDir = Path.GetFullPath(outDir);
        if (!Directory.Exists(fromDir)) throw new ModelFormatException($"{fromDir} is missing");
        if (fromDir == outDir) throw new ArgumentException("the output folder must differ from the diffusers folder", nameof(outDir));
        var index = Path.Combine(fromDir, RepositoryLayout.ModelIndexFile);
        if (!File.Exists(index))
            throw new ModelFormatException($"{index} is missing (expected a diffusers StableDiffusion3Pipeline folder)");

        string Config(string folder) => Path.Combine(fromDir, folder, RepositoryLayout.ConfigFile);
        T Read<T>(string folder) => ConfigJson.Read<T>(Config(folder));

        bool hasT5 = Directory.Exists(Path.Combine(fromDir, "text_encoder_3"));
        var set = new ModelSet(
            TextEncoder: Read<ClipTextConfig>("text_encoder").Validate(Config("text_encoder")),
            TextEncoder2: Read<ClipTextConfig>("text_encoder_2").Validate(Config("text_encoder_2")),
            TextEncoder3: hasT5 ? Read<T5EncoderConfig>("text_encoder_3").Validate(Config("text_encoder_3")) : new T5EncoderConfig(),
            Transformer: Read<Sd3TransformerConfig>("transformer").Validate(Config("transformer")),
            Vae: Read<AutoencoderKlConfig>("vae").Validate(Config("vae")),
            Scheduler: ConfigJson.Read<SchedulerConfig>(Path.Combine(fromDir, RepositoryLayout.SchedulerConfigFile))
                .Validate(Path.Combine(fromDir, RepositoryLayout.SchedulerConfigFile)));

        var tokenizers = Sd3Tokenizers.Load(fromDir, withT5: hasT5);
        if (hasT5 && tokenizers.T5 is null)
            throw new ModelFormatException($"{Path.Combine(fromDir, "tokenizer_3")} is missing: text_encoder_3/ needs its T5 tokenizer");
        tokenizers.CheckVocabularySizes(set.TextEncoder.VocabSize, set.TextEncoder2.VocabSize, hasT5 ? set.TextEncoder3.VocabSize : null);

        var submodules = Submodules.All.Where(s => s != Submodule.TextEncoder3 || hasT5).ToArray();
        var sourceFolder = submodules.ToDictionary(s => s, s => s is Submodule.VaeDecoder or Submodule.VaeEncoder ? "vae" : s.FolderName());
        var checkpoints = new Dictionary<string, CheckpointFolder>();
        try
        {
            foreach (var folder in sourceFolder.Values.Distinct())
                checkpoints[folder] = CheckpointFolder.Open(Path.Combine(fromDir, folder));
            var weights = submodules.ToDictionary(s => s, s => (IWeightSource)new CheckpointWeights(checkpoints[sourceFolder[s]], sourceFolder[s]));
            var options = new RepositoryWriter.Options
            {
                Precision = precision,
                T5Int8 = t5Int8,
                Attention = attention,
                Submodules = submodules,
                Progress = progress,
                ConfigJsonOverrides = submodules.ToDictionary(s => s, s => File.ReadAllText(Config(sourceFolder[s]))),
            };
            var manifest = new Sd3MeshManifest { Source = "diffusers", ConvertedFrom = fromDir };
            RepositoryWriter.Write(outDir, set, s => weights[s], options, manifest, root => CopyVerbatim(fromDir, root));
            _ = Sd3Tokenizers.Load(outDir, withT5: hasT5);
        }
        finally
        {
            foreach (var c in checkpoints.Values) c.Dispose();
        }
    }

    /// <summary>The scheduler config and tokenizer folders, byte for byte.</summary>
    private static void CopyVerbatim(string fromDir, string root)
    {
        File.Copy(Path.Combine(fromDir, RepositoryLayout.SchedulerConfigFile), Path.Combine(root, RepositoryLayout.SchedulerConfigFile), overwrite: true);
        foreach (var tokenizer in RepositoryLayout.TokenizerFolders)
        {
            var source = Path.Combine(fromDir, tokenizer);
            if (!Directory.Exists(source)) continue;
            foreach (var file in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
            {
                var target = Path.Combine(root, tokenizer, Path.GetRelativePath(source, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target, overwrite: true);
            }
        }
    }
}
