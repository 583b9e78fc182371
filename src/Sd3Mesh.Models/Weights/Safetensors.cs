using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Win32.SafeHandles;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Weights;

/// <summary>One tensor's entry in a safetensors header.</summary>
public sealed record SafetensorsEntry(string Name, DType DType, TensorShape Shape, long Begin, long End)
{
    public long ByteCount => End - Begin;
}

/// <summary>
/// Reads a .safetensors file: 8-byte little-endian header length, a JSON header mapping each tensor name to
/// dtype, shape and data_offsets (relative to the end of the header), then the raw little-endian data.
/// Tensors are read one at a time with positional reads, so a file far larger than memory is fine and
/// several threads may read at once.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    private const long MaxHeaderBytes = 100L << 20; // the format's own limit
    private readonly SafeFileHandle _handle;
    private readonly long _dataStart;

    private SafetensorsFile(string path, SafeFileHandle handle, long dataStart, Dictionary<string, SafetensorsEntry> entries,
        IReadOnlyDictionary<string, string> metadata)
    {
        Path = path;
        _handle = handle;
        _dataStart = dataStart;
        Entries = entries;
        Metadata = metadata;
    }

    public string Path { get; }
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new ModelFormatException($"{path} is missing");
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            long fileLength = RandomAccess.GetLength(handle);
            Span<byte> lengthBytes = stackalloc byte[8];
            if (fileLength < 8 || RandomAccess.Read(handle, lengthBytes, 0) != 8)
                throw new ModelFormatException($"{path}: not a safetensors file (shorter than its 8-byte header length)");
            long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
            if (headerLength <= 0 || headerLength > MaxHeaderBytes || 8 + headerLength > fileLength)
                throw new ModelFormatException($"{path}: not a safetensors file (header length {headerLength}, file length {fileLength})");
            var header = new byte[headerLength];
            RandomAccess.Read(handle, header, 8);
            var (entries, metadata) = ParseHeader(path, header, fileLength - 8 - headerLength);
            return new SafetensorsFile(path, handle, 8 + headerLength, entries, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Reads one tensor in its stored dtype.</summary>
    public Tensor Read(string name)
    {
        if (!Entries.TryGetValue(name, out var e))
            throw new ModelFormatException($"{Path}: tensor '{name}' is missing");
        var bytes = new byte[e.ByteCount];
        long read = 0;
        while (read < bytes.Length)
        {
            int n = RandomAccess.Read(_handle, bytes.AsSpan((int)read), _dataStart + e.Begin + read);
            if (n == 0) throw new ModelFormatException($"{Path}: tensor '{name}' is truncated");
            read += n;
        }
        return new Tensor(e.DType, e.Shape, bytes);
    }

    public void Dispose() => _handle.Dispose();

    private static (Dictionary<string, SafetensorsEntry>, Dictionary<string, string>) ParseHeader(string path, byte[] header, long dataLength)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(header)?.AsObject() ?? throw new ModelFormatException($"{path}: the safetensors header is not a JSON object");
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException($"{path}: the safetensors header is not valid JSON ({ex.Message})", ex);
        }
        var entries = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, node) in root)
        {
            if (name == "__metadata__")
            {
                if (node is JsonObject meta)
                    foreach (var (k, v) in meta) metadata[k] = v?.ToString() ?? "";
                continue;
            }
            try
            {
                var obj = node!.AsObject();
                var dtype = ParseDType(obj["dtype"]!.GetValue<string>(), path, name);
                var shape = new TensorShape(obj["shape"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray());
                var offsets = obj["data_offsets"]!.AsArray();
                long begin = offsets[0]!.GetValue<long>(), end = offsets[1]!.GetValue<long>();
                if (begin < 0 || end < begin || end > dataLength || end - begin != shape.ElementCount * dtype.SizeOf())
                    throw new ModelFormatException(
                        $"{path}: tensor '{name}' ({dtype.Name()} {shape}) has data_offsets [{begin}, {end}] that do not fit its shape or the file");
                entries[name] = new SafetensorsEntry(name, dtype, shape, begin, end);
            }
            catch (Exception ex) when (ex is NullReferenceException or InvalidOperationException or FormatException or ArgumentException)
            {
                throw new ModelFormatException($"{path}: the header entry of tensor '{name}' is malformed ({ex.Message})", ex);
            }
        }
        return (entries, metadata);
    }

    private static DType ParseDType(string code, string path, string name) => code switch
    {
        "F32" => DType.Float32,
        "F16" => DType.Float16,
        "BF16" => DType.BFloat16,
        "F64" => DType.Float64,
        "I64" => DType.Int64,
        "I32" => DType.Int32,
        "I8" => DType.Int8,
        "U8" => DType.UInt8,
        "BOOL" => DType.Bool,
        _ => throw new ModelFormatException($"{path}: tensor '{name}' has dtype {code}, which Sd3Mesh does not read (F32, F16, BF16, F64, I64, I32, I8, U8, BOOL)"),
    };

    internal static string DTypeCode(DType dtype) => dtype switch
    {
        DType.Float32 => "F32",
        DType.Float16 => "F16",
        DType.BFloat16 => "BF16",
        DType.Float64 => "F64",
        DType.Int64 => "I64",
        DType.Int32 => "I32",
        DType.Int8 => "I8",
        DType.UInt8 => "U8",
        DType.Bool => "BOOL",
        _ => throw new NotSupportedException($"safetensors has no code for {dtype.Name()}"),
    };
}

/// <summary>Writes .safetensors files (tests, and exports of seeded weights in diffusers layout).</summary>
public static class SafetensorsWriter
{
    /// <summary>
    /// Writes <paramref name="tensors"/> in the given order. Tensors are produced lazily, one at a time; their
    /// dtype and shape must be declared up front because the header comes first.
    /// </summary>
    public static void Write(string path, IReadOnlyList<(string Name, DType DType, TensorShape Shape, Func<Tensor> Source)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata) meta[k] = v;
            header["__metadata__"] = meta;
        }
        long offset = 0;
        foreach (var (name, dtype, shape, _) in tensors)
        {
            long size = shape.ElementCount * dtype.SizeOf();
            header[name] = new JsonObject
            {
                ["dtype"] = SafetensorsFile.DTypeCode(dtype),
                ["shape"] = new JsonArray(shape.Dims.ToArray().Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + size),
            };
            offset += size;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8; // the reference writer pads the header with spaces to 8 bytes
        var headerBytes = new byte[padded];
        json.CopyTo(headerBytes, 0);
        headerBytes.AsSpan(json.Length).Fill((byte)' ');

        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
        file.Write(length);
        file.Write(headerBytes);
        foreach (var (name, dtype, shape, source) in tensors)
        {
            var t = source();
            if (t.DType != dtype || t.Shape != shape)
                throw new InvalidOperationException($"tensor '{name}' was declared {dtype.Name()} {shape} but is {t.DType.Name()} {t.Shape}");
            file.Write(t.Data.Span);
        }
    }

    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        Write(path, tensors.Select(kv => (kv.Key, kv.Value.DType, kv.Value.Shape, (Func<Tensor>)(() => kv.Value))).ToList(), metadata);
}
