using System.Text.Json;
using System.Text.Json.Nodes;

namespace Sd3Mesh.Models.Weights;

/// <summary>
/// The safetensors weights of one diffusers submodule folder (e.g. transformer/): a single file
/// (diffusion_pytorch_model.safetensors, model.safetensors) or shards listed by a *.safetensors.index.json
/// ("weight_map": tensor name -> shard file). Only headers are read when opened.
/// </summary>
public sealed class CheckpointFolder : IDisposable
{
    private static readonly string[] SingleFileNames =
        ["diffusion_pytorch_model.safetensors", "model.safetensors", "diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors"];

    private readonly Dictionary<string, SafetensorsFile> _files;
    private readonly Dictionary<string, SafetensorsFile> _byTensor = new(StringComparer.Ordinal);

    private CheckpointFolder(string directory, Dictionary<string, SafetensorsFile> files, string description)
    {
        Directory = directory;
        _files = files;
        Description = description;
    }

    public string Directory { get; }
    /// <summary>The file(s) the weights come from, for messages ("model.safetensors", "3 shards of ...").</summary>
    public string Description { get; private set; }

    public static CheckpointFolder Open(string directory)
    {
        if (!System.IO.Directory.Exists(directory)) throw new ModelFormatException($"{directory} is missing");
        var indexes = System.IO.Directory.GetFiles(directory, "*.safetensors.index.json");
        var preferredIndex = indexes.FirstOrDefault(p => !Path.GetFileName(p).Contains(".fp16.", StringComparison.Ordinal)) ?? indexes.FirstOrDefault();
        if (preferredIndex is not null) return OpenSharded(directory, preferredIndex);

        string? single = SingleFileNames.Select(n => Path.Combine(directory, n)).FirstOrDefault(File.Exists);
        if (single is null)
        {
            var any = System.IO.Directory.GetFiles(directory, "*.safetensors");
            if (any.Length == 1) single = any[0];
            else if (any.Length > 1)
                throw new ModelFormatException(
                    $"{directory} holds {any.Length} .safetensors files but no *.safetensors.index.json saying which tensor lives where");
        }
        if (single is null)
        {
            bool pickle = System.IO.Directory.GetFiles(directory, "*.bin").Length > 0;
            throw new ModelFormatException(pickle
                ? $"{directory} holds only PyTorch .bin weights; Sd3Mesh reads safetensors (diffusion_pytorch_model.safetensors or model.safetensors)"
                : $"{directory} has no weights (expected diffusion_pytorch_model.safetensors, model.safetensors or a *.safetensors.index.json)");
        }
        var file = SafetensorsFile.Open(single);
        var folder = new CheckpointFolder(directory, new() { [Path.GetFileName(single)] = file }, Path.GetFileName(single));
        foreach (var name in file.Entries.Keys) folder._byTensor[name] = file;
        return folder;
    }

    private static CheckpointFolder OpenSharded(string directory, string indexPath)
    {
        JsonObject map;
        try
        {
            map = JsonNode.Parse(File.ReadAllText(indexPath))?["weight_map"]?.AsObject()
                  ?? throw new ModelFormatException($"{indexPath} has no \"weight_map\" object");
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException($"{indexPath} is not valid JSON ({ex.Message})", ex);
        }
        var files = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        var folder = new CheckpointFolder(directory, files, "");
        try
        {
            foreach (var (tensor, node) in map)
            {
                var shard = node?.GetValue<string>() ?? throw new ModelFormatException($"{indexPath}: tensor '{tensor}' maps to no file");
                if (!files.TryGetValue(shard, out var file))
                {
                    var shardPath = Path.Combine(directory, shard);
                    if (!File.Exists(shardPath))
                        throw new ModelFormatException($"{shardPath} is missing (listed by {Path.GetFileName(indexPath)} for tensor '{tensor}')");
                    files[shard] = file = SafetensorsFile.Open(shardPath);
                }
                if (!file.Entries.ContainsKey(tensor))
                    throw new ModelFormatException($"{file.Path}: tensor '{tensor}' is missing (listed there by {Path.GetFileName(indexPath)})");
                folder._byTensor[tensor] = file;
            }
        }
        catch
        {
            folder.Dispose();
            throw;
        }
        folder.Description = $"{files.Count} shards listed by {Path.GetFileName(indexPath)}";
        return folder;
    }

    public bool TryGetEntry(string name, out SafetensorsEntry entry, out SafetensorsFile file)
    {
        if (_byTensor.TryGetValue(name, out file!))
        {
            entry = file.Entries[name];
            return true;
        }
        entry = null!;
        return false;
    }

    public void Dispose()
    {
        foreach (var f in _files.Values) f.Dispose();
    }
}
