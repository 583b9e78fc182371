using Google.Protobuf;
using Sd3Mesh.Onnx.Proto;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Repository;

/// <summary>A declared graph input or output: name, element type, and dims (fixed or symbolic; null if undeclared).</summary>
public sealed record TensorSignature(string Name, DType DType, IReadOnlyList<Dim>? Shape)
{
    public override string ToString() =>
        $"{Name}: {DType.Name()}{(Shape is null ? "" : "[" + string.Join(", ", Shape) + "]")}";
}

/// <summary>An initializer's name, stored type and element count.</summary>
public sealed record InitializerSignature(string Name, DType DType, long ElementCount);

/// <summary>
/// What a model.onnx declares (inputs, outputs, opsets, metadata), read without loading its weights: the
/// protobuf is walked field by field and initializers are skipped with seeks, so a 2 GB inline model costs
/// a few reads.
/// </summary>
public sealed record OnnxSignature(
    long IrVersion,
    IReadOnlyDictionary<string, long> Opsets,
    IReadOnlyList<TensorSignature> Inputs,
    IReadOnlyList<TensorSignature> Outputs,
    IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyList<InitializerSignature> Initializers)
{
    /// <summary>Elements of all initializers (weights and constant tables).</summary>
    public long ParameterCount => Initializers.Sum(i => i.ElementCount);
    /// <summary>Bytes the initializers take in their stored types.</summary>
    public long ParameterBytes => Initializers.Sum(i => i.ElementCount * (Enum.IsDefined(i.DType) ? i.DType.SizeOf() : 0));

    // Field numbers of ModelProto and GraphProto (onnx.proto).
    private const int ModelIrVersion = 1, ModelOpset = 8, ModelGraph = 7, ModelMetadata = 14;
    private const int GraphInitializer = 5, GraphInput = 11, GraphOutput = 12;

    public static OnnxSignature Read(string path)
    {
        if (!File.Exists(path)) throw new ModelFormatException($"{path} is missing");
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        long irVersion = 0;
        var opsets = new Dictionary<string, long>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var inputs = new List<TensorSignature>();
        var outputs = new List<TensorSignature>();
        var initializers = new List<InitializerSignature>();
        var rawInputs = new List<ValueInfoProto>();
        try
        {
            var reader = new Walker(file, path);
            while (reader.Next(file.Length, out int field, out int wire))
            {
                if (field == ModelIrVersion && wire == 0) irVersion = (long)reader.Varint();
                else if (field == ModelOpset && wire == 2)
                {
                    var o = OperatorSetIdProto.Parser.ParseFrom(reader.Bytes());
                    opsets[o.Domain] = o.Version;
                }
                else if (field == ModelMetadata && wire == 2)
                {
                    var e = StringStringEntryProto.Parser.ParseFrom(reader.Bytes());
                    metadata[e.Key] = e.Value;
                }
                else if (field == ModelGraph && wire == 2)
                {
                    long end = (long)reader.Varint() + file.Position;
                    while (reader.Next(end, out int gf, out int gw))
                    {
                        if (gf == GraphInput && gw == 2) rawInputs.Add(ValueInfoProto.Parser.ParseFrom(reader.Bytes()));
                        else if (gf == GraphOutput && gw == 2) outputs.Add(ToSignature(ValueInfoProto.Parser.ParseFrom(reader.Bytes())));
                        else if (gf == GraphInitializer && gw == 2) initializers.Add(reader.Initializer());
                        else reader.Skip(gw);
                    }
                }
                else reader.Skip(wire);
            }
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new ModelFormatException($"{path} is not an ONNX model ({ex.Message})", ex);
        }
        // Old exporters list initializers among the inputs as well; they are not inputs to feed.
        var initializerNames = initializers.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        inputs.AddRange(rawInputs.Where(i => !initializerNames.Contains(i.Name)).Select(ToSignature));
        if (opsets.Count == 0) throw new ModelFormatException($"{path} is not an ONNX model (it declares no opset)");
        return new OnnxSignature(irVersion, opsets, inputs, outputs, metadata, initializers);
    }

    private static TensorSignature ToSignature(ValueInfoProto v)
    {
        var t = v.Type?.TensorType;
        IReadOnlyList<Dim>? shape = t?.Shape is null
            ? null
            : t.Shape.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue
                ? Dim.Fixed(d.DimValue)
                : Dim.Symbolic(string.IsNullOrEmpty(d.DimParam) ? "?" : d.DimParam)).ToArray();
        return new TensorSignature(v.Name, (DType)(t?.ElemType ?? 0), shape);
    }

    /// <summary>Reads protobuf tags, varints and length-delimited fields from a seekable stream.</summary>
    private sealed class Walker(FileStream s, string path)
    {
        public bool Next(long end, out int field, out int wire)
        {
            field = wire = 0;
            if (s.Position >= end) return false;
            ulong tag = Varint();
            field = (int)(tag >> 3);
            wire = (int)(tag & 7);
            return true;
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                int b = s.ReadByte();
                if (b < 0) throw new ModelFormatException($"{path} is truncated");
                value |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0) return value;
            }
            throw new ModelFormatException($"{path} is not an ONNX model (malformed varint)");
        }

        public byte[] Bytes()
        {
            long length = (long)Varint();
            if (length > 64 << 20 || s.Position + length > s.Length)
                throw new ModelFormatException($"{path} is not an ONNX model (a field of {length} bytes at offset {s.Position})");
            var buffer = new byte[length];
            s.ReadExactly(buffer);
            return buffer;
        }

        /// <summary>Reads a TensorProto's name (8), data type (2) and dims (1) and seeks past the rest, data included.</summary>
        public InitializerSignature Initializer()
        {
            long end = (long)Varint() + s.Position;
            string name = "";
            int dtype = 0;
            long elements = 1;
            while (Next(end, out int f, out int w))
            {
                if (f == 8 && w == 2) name = System.Text.Encoding.UTF8.GetString(Bytes());
                else if (f == 2 && w == 0) dtype = (int)Varint();
                else if (f == 1 && w == 0) elements *= (long)Varint();
                else if (f == 1 && w == 2)
                {
                    long packedEnd = (long)Varint() + s.Position;
                    while (s.Position < packedEnd) elements *= (long)Varint();
                }
                else Skip(w);
            }
            s.Position = end;
            return new InitializerSignature(name, (DType)dtype, elements);
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: s.Seek(8, SeekOrigin.Current); break;
                case 2: s.Seek((long)Varint(), SeekOrigin.Current); break;
                case 5: s.Seek(4, SeekOrigin.Current); break;
                default: throw new ModelFormatException($"{path} is not an ONNX model (wire type {wire} at offset {s.Position})");
            }
        }
    }
}
