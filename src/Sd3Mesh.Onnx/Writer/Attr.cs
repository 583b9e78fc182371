using Google.Protobuf;
using Sd3Mesh.Onnx.Proto;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Writer;

/// <summary>
/// A node attribute. Written as a tuple at call sites: <c>g.Op("Softmax", [x], ("axis", -1L))</c>.
/// Supported values: long/int (INT), float/double (FLOAT), string (STRING), long[]/int[] (INTS),
/// float[] (FLOATS), string[] (STRINGS), <see cref="Tensor"/> (TENSOR).
/// </summary>
public readonly record struct Attr(string Name, object Value)
{
    public static implicit operator Attr((string Name, object Value) pair) => new(pair.Name, pair.Value);

    internal AttributeProto ToProto()
    {
        var a = new AttributeProto { Name = Name };
        switch (Value)
        {
            case long v: a.Type = AttributeProto.Types.AttributeType.Int; a.I = v; break;
            case int v: a.Type = AttributeProto.Types.AttributeType.Int; a.I = v; break;
            case bool v: a.Type = AttributeProto.Types.AttributeType.Int; a.I = v ? 1 : 0; break;
            case float v: a.Type = AttributeProto.Types.AttributeType.Float; a.F = v; break;
            case double v: a.Type = AttributeProto.Types.AttributeType.Float; a.F = (float)v; break;
            case string v: a.Type = AttributeProto.Types.AttributeType.String; a.S = ByteString.CopyFromUtf8(v); break;
            case long[] v: a.Type = AttributeProto.Types.AttributeType.Ints; a.Ints.AddRange(v); break;
            case int[] v: a.Type = AttributeProto.Types.AttributeType.Ints; a.Ints.AddRange(v.Select(x => (long)x)); break;
            case float[] v: a.Type = AttributeProto.Types.AttributeType.Floats; a.Floats.AddRange(v); break;
            case string[] v:
                a.Type = AttributeProto.Types.AttributeType.Strings;
                a.Strings.AddRange(v.Select(ByteString.CopyFromUtf8));
                break;
            case Tensor v: a.Type = AttributeProto.Types.AttributeType.Tensor; a.T = TensorProtos.ToProto(v, Name); break;
            default:
                throw new ArgumentException(
                    $"attribute '{Name}' has a value of type {Value?.GetType().Name ?? "null"}, which ONNX attributes cannot hold");
        }
        return a;
    }
}
