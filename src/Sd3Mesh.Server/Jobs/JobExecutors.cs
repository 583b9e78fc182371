using Sd3Mesh.Models;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Server.Cluster;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Server.Jobs;

/// <summary>The one place where `sd3mesh serve` gets its executor.</summary>
public static class JobExecutors
{
    /// <summary>The model `serve` and `generate` use without --models: tiny, float32, weight seed 0 (random weights).</summary>
    public const string DefaultPreset = "tiny";
    public const ulong DefaultWeightSeed = 0;

    /// <summary>
    /// The SD3 pipeline on the ONNX models in <paramref name="modelsDirectory"/> (null: the cached tiny
    /// models, created on first use), every submodule's session on <paramref name="device"/> and created on
    /// first use. Its <see cref="PipelineJobExecutor.Grains"/> report those sessions.
    /// </summary>
    public static PipelineJobExecutor ForModels(string? modelsDirectory, Onnx.Device device)
    {
        var directory = modelsDirectory ?? ModelZoo.EnsureCached(DefaultPreset, DType.Float32, DefaultWeightSeed);
        var model = OnnxSd3Model.Open(directory, device);
        string name = DeviceNames.Of(device);
        return new PipelineJobExecutor(model.Components, model) { Grains = new ModelGrains(model, name), Device = name };
    }
}
