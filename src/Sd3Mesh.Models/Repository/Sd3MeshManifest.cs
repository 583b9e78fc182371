using Sd3Mesh.Models.Configs;

namespace Sd3Mesh.Models.Repository;

/// <summary>
/// sd3mesh.json at a repository's root: what the folder is (seeded preset or converted checkpoint), so that
/// `models inspect` and the model cache can tell folders apart. Written last: its presence marks a complete folder.
/// </summary>
public sealed record Sd3MeshManifest
{
    public const string FileName = "sd3mesh.json";
    /// <summary>Bumped when the graphs change in a way that makes cached folders stale.</summary>
    public const int CurrentFormat = 1;

    public int Format { get; init; } = CurrentFormat;
    /// <summary>"random" (seeded preset) or "diffusers" (converted checkpoint).</summary>
    public string Source { get; init; } = "random";
    public string? Preset { get; init; }
    public ulong? Seed { get; init; }
    public string Precision { get; init; } = "fp32";
    public bool T5Int8 { get; init; }
    /// <summary>"plain" (MatMul/Softmax) or "contrib" (com.microsoft MultiHeadAttention in the transformer and VAE).</summary>
    public string Attention { get; init; } = "plain";
    public string? ConvertedFrom { get; init; }
    public string[] Submodules { get; init; } = [];
    public string CreatedUtc { get; init; } = "";
    public string Sd3meshVersion { get; init; } = "";

    public static Sd3MeshManifest? TryRead(string directory)
    {
        var path = Path.Combine(directory, FileName);
        return File.Exists(path) ? ConfigJson.Read<Sd3MeshManifest>(path) : null;
    }
}
