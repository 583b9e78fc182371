using Sd3Mesh.Models.Configs;
using Sd3Mesh.Models.Weights;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Graphs;

/// <summary>A submodule's graph with lazy weights, and the weights it asks for (to verify a checkpoint first).</summary>
public sealed record BuiltModel(Submodule Submodule, OnnxModel Model, IReadOnlyList<WeightRequest> Requests);

/// <summary>Builds each SD3 submodule's ONNX graph from its config, precision and weight source.</summary>
public static class Sd3Graphs
{
    public const int Opset = 17;

    /// <summary>
    /// Bumped whenever the graphs written for the same weights change, so cached seeded models are written again.
    /// 2: fp16 layer/group norms without Casts, FastGelu and QuickGelu with contrib operators.
    /// </summary>
    public const int Revision = 2;

    public static BuiltModel TextEncoder(Submodule which, ClipTextConfig config, DType precision, IWeightSource weights) =>
        Build(which, precision, weights, AttentionKernel.MatMulSoftmax, m => ClipTextGraph.Define(m, config));

    public static BuiltModel T5Encoder(T5EncoderConfig config, DType precision, IWeightSource weights, bool int8 = false) =>
        Build(Submodule.TextEncoder3, precision, weights, AttentionKernel.MatMulSoftmax, m => T5EncoderGraph.Define(m, config, int8));

    public static BuiltModel Transformer(Sd3TransformerConfig config, DType precision, IWeightSource weights,
        AttentionKernel attention = AttentionKernels.Default) =>
        Build(Submodule.Transformer, precision, weights, attention, m => Sd3TransformerGraph.Define(m, config));

    public static BuiltModel VaeDecoder(AutoencoderKlConfig config, DType precision, IWeightSource weights,
        AttentionKernel attention = AttentionKernels.Default) =>
        Build(Submodule.VaeDecoder, precision, weights, attention, m => VaeGraph.DefineDecoder(m, config));

    public static BuiltModel VaeEncoder(AutoencoderKlConfig config, DType precision, IWeightSource weights,
        AttentionKernel attention = AttentionKernels.Default) =>
        Build(Submodule.VaeEncoder, precision, weights, attention, m => VaeGraph.DefineEncoder(m, config));

    private static BuiltModel Build(Submodule submodule, DType precision, IWeightSource weights, AttentionKernel attention, Action<ModelGraph> define)
    {
        var m = new ModelGraph(new GraphBuilder(submodule.FolderName(), Opset), precision, weights, attention);
        define(m);
        var model = m.G.Build(docString: $"SD3 {submodule.FolderName()} ({Precision.Name(precision)}), written by Sd3Mesh",
            metadata: new Dictionary<string, string> { ["sd3mesh.submodule"] = submodule.FolderName(), ["sd3mesh.precision"] = Precision.Name(precision) });
        return new BuiltModel(submodule, model, m.Requests);
    }
}
