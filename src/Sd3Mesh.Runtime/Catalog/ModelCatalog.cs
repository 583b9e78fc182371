using Sd3Mesh.Models;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Placement;

namespace Sd3Mesh.Runtime.Catalog;

/// <summary>
/// The model a silo serves, opened once per silo process: the folder (a path, or a seeded preset created in the
/// model cache), its tokenizers and configs, and the placement plan of its grains. Grains create their sessions
/// from it; the coordinator takes tokenizers and dimensions from it.
/// </summary>
public sealed class ModelCatalog
{
    /// <param name="folder">the model opened already (a CLI that checked it before starting the silo); null: open the config's</param>
    public ModelCatalog(ClusterConfig config, Func<ModelSpec, string> resolveFolder, Func<Onnx.Device, long?> deviceMemory, Sd3ModelFolder? folder = null)
    {
        Config = config;
        Folder = folder ?? Sd3ModelFolder.Open(resolveFolder(config.Model));
        ModelId = Folder.Name;
        Plan = PlacementPlan.Create(config, ModelId,
            s => Folder.Repository.Has(s) ? Folder.Repository[s].ModelBytes : null,
            d => config.MemoryBudgets.TryGetValue(d, out var b) ? b : deviceMemory(d));
    }

    public ClusterConfig Config { get; }
    public Sd3ModelFolder Folder { get; }
    /// <summary>Names the model in grain keys ("tiny-fp32-seed0/transformer@cpu:0").</summary>
    public string ModelId { get; }
    public PlacementPlan Plan { get; }
    /// <summary>How sessions are created (threads, TF32, CUDA graphs, residency).</summary>
    public OnnxModelOptions SessionOptions { get; init; } = new();
}
