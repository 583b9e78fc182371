using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.IO;

/// <summary>
/// NumPy .npy files (format versions 1.0, 2.0 and 3.0 read; 1.0 written, 2.0 when the header needs it):
/// little-endian, C order. Reads float32, float16 and float64 arrays (returned as float32); writes
/// float32. Used for --latents and --output-type latent ([B, 16, H/8, W/8]).
/// </summary>
public static partial class NpyFile
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static void Write(string path, Tensor tensor)
    {
        using var f = File.Create(path);
        Write(f, tensor);
    }

    public static void Write(Stream stream, Tensor tensor)
    {
        var t = tensor.AsDType(DType.Float32);
        var dims = t.Shape.ToArray();
        string shape = dims.Length == 1 ? $"({dims[0]},)" : "(" + string.Join(", ", dims) + ")";
        string dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}";
        // Pad with spaces and end with '\n' so the data starts on a 64-byte boundary.
        int version = dict.Length + 1 + 10 > 65535 ? 2 : 1;
        int preamble = version == 1 ? 10 : 12;
        int total = (preamble + dict.Length + 1 + 63) / 64 * 64;
        var header = dict.PadRight(total - preamble - 1) + "\n";
        stream.Write(Magic);
        stream.WriteByte((byte)version);
        stream.WriteByte(0);
        Span<byte> len = stackalloc byte[4];
        if (version == 1) { BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)header.Length); stream.Write(len[..2]); }
        else { BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)header.Length); stream.Write(len); }
        stream.Write(Encoding.Latin1.GetBytes(header));
        if (BitConverter.IsLittleEndian) { stream.Write(t.Data.Span); return; }
        var bytes = new byte[t.ByteCount];
        var values = t.AsSpan<float>();
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        stream.Write(bytes);
    }

    public static Tensor Read(string path)
    {
        try { return Read(File.ReadAllBytes(path)); }
        catch (InvalidDataException e) { throw new InvalidDataException($"'{path}': {e.Message}", e); }
    }

    public static Tensor Read(ReadOnlySpan<byte> data)
    {
        if (data.Length < 10 || !data.StartsWith(Magic)) throw new InvalidDataException("not a NumPy .npy file (bad magic)");
        int major = data[6];
        int headerLength, offset;
        switch (major)
        {
            case 1: headerLength = BinaryPrimitives.ReadUInt16LittleEndian(data[8..]); offset = 10; break;
            case 2 or 3:
                if (data.Length < 12) throw new InvalidDataException("truncated .npy header");
                headerLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(data[8..]); offset = 12; break;
            default: throw new InvalidDataException($".npy format version {major}.{data[7]} is not supported (1.0, 2.0, 3.0)");
        }
        if (offset + headerLength > data.Length) throw new InvalidDataException("truncated .npy header");
        var header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(data.Slice(offset, headerLength));

        var descr = DescrPattern().Match(header);
        var order = FortranPattern().Match(header);
        var shapeMatch = ShapePattern().Match(header);
        if (!descr.Success || !order.Success || !shapeMatch.Success) throw new InvalidDataException($"unreadable .npy header: {header.Trim()}");
        if (order.Groups[1].Value == "True") throw new InvalidDataException(".npy array is in Fortran order; save it in C order");
        var dims = shapeMatch.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var shape = new TensorShape(dims);

        string d = descr.Groups[1].Value;
        int size = d switch { "<f4" => 4, "<f2" => 2, "<f8" => 8, _ => 0 };
        if (size == 0)
        {
            string hint = d is ">f4" or ">f8" or ">f2" ? "big-endian floats" : $"dtype '{d}'";
            throw new InvalidDataException($".npy {hint} not supported: save float32 little-endian ('<f4')");
        }
        var body = data[(offset + headerLength)..];
        long needed = shape.ElementCount * size;
        if (body.Length < needed) throw new InvalidDataException($".npy data holds {body.Length} bytes, shape {shape} of '{d}' needs {needed}");
        var values = new float[shape.ElementCount];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = size switch
            {
                4 => BinaryPrimitives.ReadSingleLittleEndian(body[(i * 4)..]),
                2 => (float)BinaryPrimitives.ReadHalfLittleEndian(body[(i * 2)..]),
                _ => (float)BinaryPrimitives.ReadDoubleLittleEndian(body[(i * 8)..]),
            };
        }
        return Tensor.FromArray(values, shape);
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex DescrPattern();
    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranPattern();
    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}
