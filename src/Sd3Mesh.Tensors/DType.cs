namespace Sd3Mesh.Tensors;

/// <summary>
/// Element type of a tensor. The numeric values are ONNX's TensorProto.DataType codes, which are also
/// ONNX Runtime's ONNXTensorElementDataType values, so no mapping table is needed at either boundary.
/// </summary>
public enum DType
{
    Float32 = 1,
    UInt8 = 2,
    Int8 = 3,
    Int32 = 6,
    Int64 = 7,
    Bool = 9,
    Float16 = 10,
    Float64 = 11,
    BFloat16 = 16,
}

public static class DTypes
{
    /// <summary>Bytes per element.</summary>
    public static int SizeOf(this DType dtype) => dtype switch
    {
        DType.Float32 or DType.Int32 => 4,
        DType.Int64 or DType.Float64 => 8,
        DType.Float16 or DType.BFloat16 => 2,
        DType.UInt8 or DType.Int8 or DType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    /// <summary>Lower-case name as used in configs, the CLI and error messages (e.g. "float16").</summary>
    public static string Name(this DType dtype) => dtype switch
    {
        DType.Float32 => "float32",
        DType.Float16 => "float16",
        DType.BFloat16 => "bfloat16",
        DType.Float64 => "float64",
        DType.Int64 => "int64",
        DType.Int32 => "int32",
        DType.Int8 => "int8",
        DType.UInt8 => "uint8",
        DType.Bool => "bool",
        _ => $"dtype({(int)dtype})",
    };

    public static bool IsFloatingPoint(this DType dtype) =>
        dtype is DType.Float32 or DType.Float16 or DType.BFloat16 or DType.Float64;

    /// <summary>Parses a name produced by <see cref="Name"/> (also "fp32", "fp16", "bf16").</summary>
    public static DType Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "float32" or "fp32" or "float" => DType.Float32,
        "float16" or "fp16" or "half" => DType.Float16,
        "bfloat16" or "bf16" => DType.BFloat16,
        "float64" or "fp64" or "double" => DType.Float64,
        "int64" => DType.Int64,
        "int32" => DType.Int32,
        "int8" => DType.Int8,
        "uint8" => DType.UInt8,
        "bool" => DType.Bool,
        _ => throw new FormatException(
            $"unknown dtype '{name}': expected one of float32, float16, bfloat16, float64, int64, int32, int8, uint8, bool"),
    };

    /// <summary>The dtype whose elements are stored as the CLR type <typeparamref name="T"/>.</summary>
    public static DType Of<T>() where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return DType.Float32;
        if (typeof(T) == typeof(Half)) return DType.Float16;
        if (typeof(T) == typeof(BFloat16)) return DType.BFloat16;
        if (typeof(T) == typeof(double)) return DType.Float64;
        if (typeof(T) == typeof(long)) return DType.Int64;
        if (typeof(T) == typeof(int)) return DType.Int32;
        if (typeof(T) == typeof(sbyte)) return DType.Int8;
        if (typeof(T) == typeof(byte)) return DType.UInt8;
        if (typeof(T) == typeof(bool)) return DType.Bool;
        throw new NotSupportedException($"no tensor dtype is stored as {typeof(T).Name}");
    }
}
