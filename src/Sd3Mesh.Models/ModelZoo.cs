using Sd3Mesh.Models.Graphs;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Models.Tokenizers;
using Sd3Mesh.Models.Weights;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models;

/// <summary>
/// Seeded-random SD3 model repositories: <see cref="Create"/> writes one for a preset, precision and seed;
/// <see cref="EnsureCached"/> keeps one per (preset, precision, seed) under ~/.cache/sd3mesh/models/
/// ($XDG_CACHE_HOME honoured), built once in a temporary folder and renamed into place.
/// The same seed gives the same weights bit for bit, whatever the precision's rounding.
/// </summary>
public static class ModelZoo
{
    public static void Create(string preset, DType precision, ulong seed, string outDir, IProgress<ZooProgress>? progress = null,
        IReadOnlyList<Submodule>? submodules = null, bool t5Int8 = false, AttentionKernel attention = AttentionKernels.Default)
    {
        var set = Presets.Get(preset);
        var weights = new RandomWeights(seed);
        var options = new RepositoryWriter.Options
        {
            Precision = precision,
            T5Int8 = t5Int8,
            Attention = attention,
            Submodules = submodules ?? Submodules.All,
            Progress = progress,
        };
        var manifest = new Sd3MeshManifest { Source = "random", Preset = preset.Trim().ToLowerInvariant(), Seed = seed };
        RepositoryWriter.Write(outDir, set, _ => weights, options, manifest, WriteTokenizers);
    }

    /// <summary>The cached repository for (preset, precision, seed), created on first use. Safe against concurrent callers.</summary>
    public static string EnsureCached(string preset, DType precision, ulong seed, IProgress<ZooProgress>? progress = null)
    {
        _ = Presets.Get(preset); // unknown names fail here, before touching the cache
        var name = $"{preset.Trim().ToLowerInvariant()}-{Precision.Name(precision)}-seed{seed}-{AttentionKernels.Default.Name()}-g{Sd3Graphs.Revision}-v{Sd3MeshManifest.CurrentFormat}";
        var root = CacheRoot();
        var final = Path.Combine(root, name);
        if (File.Exists(Path.Combine(final, Sd3MeshManifest.FileName))) return final;

        Directory.CreateDirectory(root);
        var temp = Path.Combine(root, $".{name}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            Create(preset, precision, seed, temp, progress);
            try
            {
                Directory.Move(temp, final);
            }
            catch (IOException) when (File.Exists(Path.Combine(final, Sd3MeshManifest.FileName)))
            {
                // Another process finished first; its folder is identical.
            }
        }
        finally
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
        return final;
    }

    /// <summary>$XDG_CACHE_HOME/sd3mesh/models, or ~/.cache/sd3mesh/models.</summary>
    public static string CacheRoot()
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var cache = !string.IsNullOrWhiteSpace(xdg) && Path.IsPathRooted(xdg)
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(cache, "sd3mesh", "models");
    }

    /// <summary>
    /// tokenizer/ (CLIP BPE padded with &lt;|endoftext|&gt;), tokenizer_2/ (the same BPE padded with "!", as SD3's
    /// OpenCLIP tokenizer) and tokenizer_3/ (a synthetic T5-shaped Unigram vocabulary: see TokenizerFiles).
    /// </summary>
    private static void WriteTokenizers(string root)
    {
        TokenizerFiles.WriteClip(Path.Combine(root, RepositoryLayout.TokenizerFolders[0]), TokenizerFiles.ClipLPadToken);
        TokenizerFiles.WriteClip(Path.Combine(root, RepositoryLayout.TokenizerFolders[1]), TokenizerFiles.ClipGPadToken);
        TokenizerFiles.WriteSyntheticT5(Path.Combine(root, RepositoryLayout.TokenizerFolders[2]));
    }
}
