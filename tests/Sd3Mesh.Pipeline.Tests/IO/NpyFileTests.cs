using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Sd3Mesh.Pipeline.IO;
using Sd3Mesh.Pipeline.Tests.Support;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Tests.IO;

public class NpyFileTests
{
    [Fact]
    public void Round_trips_and_python_reads_the_header_and_values()
    {
        using var tmp = new TempDirectory();
        var values = Enumerable.Range(0, 2 * 16 * 3 * 5).Select(i => (float)Math.Sin(i) * 3).ToArray();
        var tensor = Tensor.FromArray(values, 2, 16, 3, 5);
        NpyFile.Write(tmp.File("latents.npy"), tensor);

        var back = NpyFile.Read(tmp.File("latents.npy"));
        Assert.Equal(tensor.Shape, back.Shape);
        Assert.Equal(values, back.ToArray<float>());

        var py = JsonDocument.Parse(Python.RunFile("IO/npy_check.py", tmp.File("latents.npy"))).RootElement;
        Assert.Equal(1, py.GetProperty("version").GetInt32());
        Assert.Equal("<f4", py.GetProperty("descr").GetString());
        Assert.False(py.GetProperty("fortran_order").GetBoolean());
        Assert.Equal([2, 16, 3, 5], py.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()));
        Assert.Equal(values, py.GetProperty("values").EnumerateArray().Select(v => (float)v.GetDouble()));
    }

    private static byte[] Npy(string header, byte version, byte[] body)
    {
        int pre = version == 1 ? 10 : 12;
        int total = (pre + header.Length + 1 + 63) / 64 * 64;
        var h = header.PadRight(total - pre - 1) + "\n";
        var bytes = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', version, 0 };
        var len = new byte[version == 1 ? 2 : 4];
        if (version == 1) BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)h.Length); else BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)h.Length);
        bytes.AddRange(len);
        bytes.AddRange(Encoding.Latin1.GetBytes(h));
        bytes.AddRange(body);
        return bytes.ToArray();
    }

    [Fact]
    public void Reads_version_2_and_float16_and_float64_as_float32()
    {
        var f8 = new byte[16];
        BinaryPrimitives.WriteDoubleLittleEndian(f8, 1.5);
        BinaryPrimitives.WriteDoubleLittleEndian(f8.AsSpan(8), -2.25);
        var t = NpyFile.Read(Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 2, f8));
        Assert.Equal([1.5f, -2.25f], t.ToArray<float>());

        var f2 = new byte[4];
        BinaryPrimitives.WriteHalfLittleEndian(f2, (Half)0.5f);
        BinaryPrimitives.WriteHalfLittleEndian(f2.AsSpan(2), (Half)(-4f));
        Assert.Equal([0.5f, -4f], NpyFile.Read(Npy("{'descr': '<f2', 'fortran_order': False, 'shape': (1, 2), }", 1, f2)).ToArray<float>());
    }

    [Fact]
    public void Rejects_what_it_cannot_read_with_a_reason()
    {
        Assert.Contains("Fortran order", Assert.Throws<InvalidDataException>(() =>
            NpyFile.Read(Npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", 1, new byte[4]))).Message);
        Assert.Contains("dtype '<i8'", Assert.Throws<InvalidDataException>(() =>
            NpyFile.Read(Npy("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", 1, new byte[8]))).Message);
        Assert.Contains("needs 16", Assert.Throws<InvalidDataException>(() =>
            NpyFile.Read(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 1, new byte[8]))).Message);
        Assert.Contains("bad magic", Assert.Throws<InvalidDataException>(() => NpyFile.Read("not numpy at all"u8)).Message);
    }
}
