using Sd3Mesh.Models.Configs;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Repository;

/// <summary>
/// An ONNX SD3 model repository on disk, in optimum's layout (folders written by Sd3Mesh or exported by
/// optimum): the submodules present with their configs, model files and signatures, the scheduler and VAE
/// configs, and the tokenizer folders. Opening checks the folder's structure and each model's required inputs
/// and outputs, so a broken folder fails here with a message naming the file.
/// </summary>
public sealed class ModelRepository
{
    /// <summary>Canonical inputs and outputs each submodule must declare.</summary>
    public static readonly IReadOnlyDictionary<Submodule, (string[] Inputs, string[] Outputs)> Required =
        new Dictionary<Submodule, (string[], string[])>
        {
            [Submodule.TextEncoder] = (["input_ids"], ["text_embeds", "last_hidden_state"]),
            [Submodule.TextEncoder2] = (["input_ids"], ["text_embeds", "last_hidden_state"]),
            [Submodule.TextEncoder3] = (["input_ids"], ["last_hidden_state"]),
            [Submodule.Transformer] = (["hidden_states", "encoder_hidden_states", "pooled_projections", "timestep"], ["out_hidden_states"]),
            [Submodule.VaeDecoder] = (["latent_sample"], ["sample"]),
            [Submodule.VaeEncoder] = (["sample"], ["latent_parameters"]),
        };

    private readonly Dictionary<Submodule, SubmoduleInfo> _submodules;
    private readonly AutoencoderKlConfig? _vae;

    private ModelRepository(string directory, Dictionary<Submodule, SubmoduleInfo> submodules, SchedulerConfig scheduler,
        AutoencoderKlConfig? vae, Sd3MeshManifest? manifest)
    {
        Directory = directory;
        _submodules = submodules;
        Scheduler = scheduler;
        _vae = vae;
        Manifest = manifest;
    }

    public string Directory { get; }
    /// <summary>sd3mesh.json, for folders Sd3Mesh wrote (null for optimum exports).</summary>
    public Sd3MeshManifest? Manifest { get; }
    public SchedulerConfig Scheduler { get; }
    public IReadOnlyCollection<SubmoduleInfo> Submodules => _submodules.Values;

    /// <summary>The VAE config (scaling_factor, shift_factor, block sizes), from vae_decoder/, vae_encoder/ or vae/.</summary>
    public AutoencoderKlConfig Vae => _vae ?? throw new ModelFormatException($"{Directory} has no VAE config (vae_decoder/config.json)");

    public bool Has(Submodule s) => _submodules.ContainsKey(s);

    public SubmoduleInfo this[Submodule s] => _submodules.TryGetValue(s, out var info)
        ? info
        : throw new ModelFormatException($"{Path.Combine(Directory, s.FolderName())} is missing");

    public ClipTextConfig ClipConfig(Submodule s) =>
        s is Submodule.TextEncoder or Submodule.TextEncoder2
            ? ConfigJson.Read<ClipTextConfig>(this[s].ConfigPath).Validate(this[s].ConfigPath)
            : throw new ArgumentException($"{s.FolderName()} is not a CLIP text encoder", nameof(s));

    public T5EncoderConfig T5Config => ConfigJson.Read<T5EncoderConfig>(this[Submodule.TextEncoder3].ConfigPath).Validate(this[Submodule.TextEncoder3].ConfigPath);

    public Sd3TransformerConfig TransformerConfig =>
        ConfigJson.Read<Sd3TransformerConfig>(this[Submodule.Transformer].ConfigPath).Validate(this[Submodule.Transformer].ConfigPath);

    /// <summary>tokenizer (1), tokenizer_2 (2), tokenizer_3 (3): the folder path, or null if the repository lacks it.</summary>
    public string? TokenizerDirectory(int index)
    {
        if (index is < 1 or > 3) throw new ArgumentOutOfRangeException(nameof(index), index, "tokenizers are numbered 1 to 3");
        var path = Path.Combine(Directory, RepositoryLayout.TokenizerFolders[index - 1]);
        return System.IO.Directory.Exists(path) ? path : null;
    }

    public static ModelRepository Open(string directory)
    {
        directory = Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(directory)) throw new ModelFormatException($"{directory} is missing");
        var present = Models.Submodules.All.Where(s => System.IO.Directory.Exists(Path.Combine(directory, s.FolderName()))).ToArray();
        if (present.Length == 0)
            throw new ModelFormatException(
                $"{directory} is not an SD3 ONNX model repository (it has none of {string.Join(", ", Models.Submodules.All.Select(s => s.FolderName() + "/"))})");

        var submodules = new Dictionary<Submodule, SubmoduleInfo>();
        foreach (var s in present)
        {
            var folder = Path.Combine(directory, s.FolderName());
            var config = Path.Combine(folder, RepositoryLayout.ConfigFile);
            if (!File.Exists(config)) throw new ModelFormatException($"{config} is missing");
            var info = new SubmoduleInfo(s, folder, OnnxSignature.Read(Path.Combine(folder, RepositoryLayout.ModelFile)));
            var (inputs, outputs) = Required[s];
            foreach (var i in inputs) info.Input(i);
            foreach (var o in outputs) info.Output(o);
            CheckInputTypes(info);
            submodules[s] = info;
        }

        var schedulerPath = Path.Combine(directory, RepositoryLayout.SchedulerConfigFile);
        var scheduler = ConfigJson.Read<SchedulerConfig>(schedulerPath).Validate(schedulerPath);
        var vaePath = new[] { "vae_decoder", "vae_encoder", "vae" }.Select(f => Path.Combine(directory, f, RepositoryLayout.ConfigFile)).FirstOrDefault(File.Exists);
        var vae = vaePath is null ? null : ConfigJson.Read<AutoencoderKlConfig>(vaePath).Validate(vaePath);
        return new ModelRepository(directory, submodules, scheduler, vae, Sd3MeshManifest.TryRead(directory));
    }

    private static void CheckInputTypes(SubmoduleInfo info)
    {
        foreach (var t in info.Inputs)
        {
            bool ok = t.Name is "input_ids" ? t.DType is DType.Int64 or DType.Int32 : t.DType is DType.Float32 or DType.Float16;
            if (!ok)
                throw new ModelFormatException($"{info.ModelPath}: input '{t.Name}' is {t.DType.Name()}, which Sd3Mesh does not feed " +
                                               (t.Name is "input_ids" ? "(expected int64 or int32)" : "(expected float32 or float16)"));
        }
    }
}
