using System.Globalization;
using Google.Protobuf;
using Sd3Mesh.Onnx.Proto;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Writer;

/// <summary>Conversions between <see cref="Tensor"/> and ONNX's TensorProto (raw_data, little-endian).</summary>
public static class TensorProtos
{
    /// <summary>A TensorProto holding the tensor's bytes inline. The bytes are shared, not copied.</summary>
    public static TensorProto ToProto(Tensor tensor, string name)
    {
        var proto = Header(name, tensor.DType, tensor.Shape);
        proto.RawData = UnsafeByteOperations.UnsafeWrap(tensor.Data);
        return proto;
    }

    /// <summary>A TensorProto with name, type and dims but no data yet.</summary>
    public static TensorProto Header(string name, DType dtype, TensorShape shape)
    {
        var proto = new TensorProto { Name = name, DataType = (int)dtype };
        proto.Dims.AddRange(shape.Dims.ToArray());
        return proto;
    }

    /// <summary>
    /// Reads a TensorProto's elements (inline raw_data, typed fields, or external data relative to
    /// <paramref name="modelDirectory"/>) into a new tensor.
    /// </summary>
    public static Tensor ToTensor(TensorProto proto, string? modelDirectory = null)
    {
        var dtype = (DType)proto.DataType;
        if (!Enum.IsDefined(dtype))
            throw new NotSupportedException($"tensor '{proto.Name}' has ONNX data type {proto.DataType}, which Sd3Mesh does not read");
        var shape = new TensorShape(proto.Dims.ToArray());
        var tensor = Tensor.Zeros(dtype, shape);
        var bytes = tensor.Data.Span;

        if (proto.DataLocation == TensorProto.Types.DataLocation.External)
            ReadExternal(proto, modelDirectory, bytes);
        else if (!proto.RawData.IsEmpty)
        {
            if (proto.RawData.Length != bytes.Length)
                throw new InvalidDataException($"tensor '{proto.Name}' {shape} has {proto.RawData.Length} raw bytes, expected {bytes.Length}");
            proto.RawData.Span.CopyTo(bytes);
        }
        else
            ReadTypedFields(proto, tensor);
        return tensor;
    }

    private static void ReadExternal(TensorProto proto, string? modelDirectory, Span<byte> destination)
    {
        string? location = null;
        long offset = 0, length = destination.Length;
        foreach (var kv in proto.ExternalData)
        {
            switch (kv.Key)
            {
                case "location": location = kv.Value; break;
                case "offset": offset = long.Parse(kv.Value, CultureInfo.InvariantCulture); break;
                case "length": length = long.Parse(kv.Value, CultureInfo.InvariantCulture); break;
            }
        }
        if (location is null) throw new InvalidDataException($"tensor '{proto.Name}' is external but names no location");
        if (length != destination.Length)
            throw new InvalidDataException($"tensor '{proto.Name}' declares {length} external bytes, its shape needs {destination.Length}");
        var path = Path.Combine(modelDirectory ?? ".", location);
        using var file = File.OpenRead(path);
        if (offset + length > file.Length)
            throw new InvalidDataException($"tensor '{proto.Name}' lies at bytes [{offset}, {offset + length}) of {path}, which has {file.Length}");
        file.Position = offset;
        file.ReadExactly(destination);
    }

    private static void ReadTypedFields(TensorProto proto, Tensor t)
    {
        switch (t.DType)
        {
            case DType.Float32: Copy(proto.FloatData, t.AsSpan<float>()); break;
            case DType.Float64: Copy(proto.DoubleData, t.AsSpan<double>()); break;
            case DType.Int64: Copy(proto.Int64Data, t.AsSpan<long>()); break;
            case DType.Int32: Copy(proto.Int32Data, t.AsSpan<int>()); break;
            case DType.Int8: Convert(proto.Int32Data, t.AsSpan<sbyte>(), v => (sbyte)v); break;
            case DType.UInt8: Convert(proto.Int32Data, t.AsSpan<byte>(), v => (byte)v); break;
            case DType.Bool: Convert(proto.Int32Data, t.AsSpan<bool>(), v => v != 0); break;
            case DType.Float16: Convert(proto.Int32Data, t.AsSpan<Half>(), v => BitConverter.UInt16BitsToHalf((ushort)v)); break;
            case DType.BFloat16: Convert(proto.Int32Data, t.AsSpan<BFloat16>(), v => BFloat16.FromBits((ushort)v)); break;
            default: throw new NotSupportedException($"tensor '{proto.Name}': cannot read {t.DType.Name()} from typed fields");
        }

        void Copy<T>(Google.Protobuf.Collections.RepeatedField<T> src, Span<T> dst)
        {
            if (src.Count != dst.Length)
                throw new InvalidDataException($"tensor '{proto.Name}' holds {src.Count} elements, its shape needs {dst.Length}");
            for (int i = 0; i < dst.Length; i++) dst[i] = src[i];
        }

        void Convert<T>(Google.Protobuf.Collections.RepeatedField<int> src, Span<T> dst, Func<int, T> f)
        {
            if (src.Count != dst.Length)
                throw new InvalidDataException($"tensor '{proto.Name}' holds {src.Count} elements, its shape needs {dst.Length}");
            for (int i = 0; i < dst.Length; i++) dst[i] = f(src[i]);
        }
    }
}
