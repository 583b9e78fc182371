namespace Sd3Mesh.Models.Repository;

/// <summary>
/// One submodule of a repository: its folder, config, model file and declared inputs/outputs. Inputs and
/// outputs are looked up by Sd3Mesh's (optimum's) canonical names; known alternatives used by other exporters
/// resolve to the same entry, so callers feed and fetch by <see cref="TensorSignature.Name"/> and cast to its
/// <see cref="TensorSignature.DType"/> (e.g. int32 or int64 input_ids).
/// </summary>
public sealed class SubmoduleInfo
{
    private static readonly Dictionary<string, string[]> Aliases = new(StringComparer.Ordinal)
    {
        ["out_hidden_states"] = ["out_hidden_states", "out_sample", "sample"],
        ["latent_parameters"] = ["latent_parameters", "latent_sample", "latent_dist"],
        ["text_embeds"] = ["text_embeds", "pooler_output"],
    };

    internal SubmoduleInfo(Submodule submodule, string directory, OnnxSignature signature)
    {
        Submodule = submodule;
        Directory = directory;
        Signature = signature;
        var data = Path.Combine(directory, RepositoryLayout.ExternalDataFile);
        ExternalDataPath = File.Exists(data) ? data : null;
        ModelBytes = System.IO.Directory.GetFiles(directory).Where(f => !f.EndsWith(".json", StringComparison.Ordinal)).Sum(f => new FileInfo(f).Length);
    }

    public Submodule Submodule { get; }
    public string Directory { get; }
    public string ModelPath => Path.Combine(Directory, RepositoryLayout.ModelFile);
    public string ConfigPath => Path.Combine(Directory, RepositoryLayout.ConfigFile);
    public string? ExternalDataPath { get; }
    /// <summary>Bytes of the model files on disk (graph plus external data).</summary>
    public long ModelBytes { get; }
    public OnnxSignature Signature { get; }
    public IReadOnlyList<TensorSignature> Inputs => Signature.Inputs;
    public IReadOnlyList<TensorSignature> Outputs => Signature.Outputs;

    public TensorSignature Input(string canonical) =>
        Find(Inputs, canonical) ?? throw Missing("input", canonical, Inputs);

    public TensorSignature Output(string canonical) =>
        Find(Outputs, canonical) ?? throw Missing("output", canonical, Outputs);

    private static TensorSignature? Find(IReadOnlyList<TensorSignature> list, string canonical)
    {
        foreach (var name in Aliases.TryGetValue(canonical, out var names) ? names : [canonical])
            if (list.FirstOrDefault(t => t.Name == name) is { } found) return found;
        return null;
    }

    private ModelFormatException Missing(string kind, string canonical, IReadOnlyList<TensorSignature> list) =>
        new($"{ModelPath} has no {kind} '{canonical}' ({kind}s: {string.Join(", ", list.Select(t => t.Name))})");
}
