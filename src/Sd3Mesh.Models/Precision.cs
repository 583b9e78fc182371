using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models;

/// <summary>Model precision names (fp32, fp16) as the CLI and sd3mesh.json write them.</summary>
public static class Precision
{
    public static DType Parse(string name)
    {
        DType d;
        try { d = DTypes.Parse(name); }
        catch (FormatException) { d = DType.Bool; }
        return d is DType.Float32 or DType.Float16
            ? d
            : throw new FormatException($"unknown precision '{name}': expected fp32 or fp16");
    }

    public static string Name(DType dtype) => dtype switch
    {
        DType.Float32 => "fp32",
        DType.Float16 => "fp16",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "model precision is fp32 or fp16"),
    };
}
