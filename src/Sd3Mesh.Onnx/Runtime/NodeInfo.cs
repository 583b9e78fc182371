using Microsoft.ML.OnnxRuntime;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx;

/// <summary>
/// A model input or output as ONNX Runtime reports it: name, element type and shape. A dynamic dimension
/// has <see cref="Dims"/>[i] = -1 and its symbolic name (e.g. "batch") in <see cref="SymbolicDims"/>[i]
/// (null when the model leaves it unnamed).
/// </summary>
public sealed record NodeInfo(string Name, DType DType, long[] Dims, string?[] SymbolicDims)
{
    public int Rank => Dims.Length;

    internal static NodeInfo From(string name, NodeMetadata metadata, bool isInput)
    {
        if (!metadata.IsTensor || metadata.OnnxValueType != OnnxValueType.ONNX_TYPE_TENSOR)
            throw new NotSupportedException(
                $"{(isInput ? "input" : "output")} '{name}' is not a tensor ({metadata.OnnxValueType}); Sd3Mesh binds tensors only");
        var dims = Array.ConvertAll(metadata.Dimensions, d => (long)d);
        var symbolic = new string?[dims.Length];
        for (int i = 0; i < dims.Length; i++)
            symbolic[i] = i < metadata.SymbolicDimensions.Length && !string.IsNullOrEmpty(metadata.SymbolicDimensions[i]) ? metadata.SymbolicDimensions[i] : null;
        return new NodeInfo(name, TensorValues.ToDType(metadata.ElementDataType), dims, symbolic);
    }

    /// <summary>True when a tensor of <paramref name="shape"/> fits: same rank, and every fixed dimension equal.</summary>
    public bool Accepts(TensorShape shape)
    {
        if (shape.Rank != Dims.Length) return false;
        for (int i = 0; i < Dims.Length; i++)
            if (Dims[i] >= 0 && Dims[i] != shape[i]) return false;
        return true;
    }

    /// <summary>The shape as written in messages: fixed sizes, symbolic names, "?" for unnamed dynamic ones.</summary>
    public string ShapeText =>
        "[" + string.Join(", ", Dims.Select((d, i) => d >= 0 ? d.ToString(System.Globalization.CultureInfo.InvariantCulture) : SymbolicDims[i] ?? "?")) + "]";

    /// <summary>E.g. "float32 [batch, 4]".</summary>
    public string TypeText => $"{DType.Name()} {ShapeText}";

    public override string ToString() => $"{Name}: {TypeText}";
}
