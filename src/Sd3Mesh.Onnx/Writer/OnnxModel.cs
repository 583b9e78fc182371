using System.Globalization;
using Google.Protobuf;
using Sd3Mesh.Onnx.Proto;

namespace Sd3Mesh.Onnx.Writer;

/// <summary>How <see cref="OnnxModel.Save"/> lays out weights.</summary>
public sealed record SaveOptions
{
    /// <summary>Tensors larger than this many bytes go to the external data file; the rest stay inline.</summary>
    public long ExternalDataThreshold { get; init; } = 1024;

    /// <summary>External data file name, beside the model (default: "model.onnx" -> "model.onnx_data", as optimum names it).</summary>
    public string? ExternalDataFile { get; init; }

    /// <summary>Offsets of external tensors are multiples of this (4096 lets ORT memory-map them).</summary>
    public int Alignment { get; init; } = 4096;

    /// <summary>Reports bytes of weights written so far.</summary>
    public IProgress<long>? Progress { get; init; }
}

/// <summary>
/// A built ONNX model: the graph (as protobuf) plus its initializers, which are materialized only when the
/// model is serialized. <see cref="Save"/> streams weights to disk one at a time, so models larger than
/// protobuf's 2 GB limit (or than memory) are written with external data.
/// </summary>
public sealed class OnnxModel
{
    private const long ProtobufLimit = int.MaxValue;
    private readonly ModelProto _proto;

    internal OnnxModel(ModelProto proto, IReadOnlyList<InitializerSource> initializers)
    {
        _proto = proto;
        Initializers = initializers;
    }

    public IReadOnlyList<InitializerSource> Initializers { get; }
    public long ParameterCount => Initializers.Sum(i => i.Shape.ElementCount);
    public long ParameterBytes => Initializers.Sum(i => i.ByteCount);

    /// <summary>The graph without initializer data (a copy).</summary>
    public ModelProto Structure => _proto.Clone();

    /// <summary>The whole model as one protobuf (weights inline). Limited to 2 GB by protobuf.</summary>
    public byte[] ToBytes()
    {
        if (ParameterBytes >= ProtobufLimit)
            throw new InvalidOperationException(
                $"model '{_proto.Graph.Name}' has {ParameterBytes:N0} bytes of weights; one ONNX protobuf holds under 2 GB: use Save() with external data");
        var proto = _proto.Clone();
        foreach (var init in Initializers)
            proto.Graph.Initializer.Add(TensorProtos.ToProto(init.Materialize(), init.Name));
        return proto.ToByteArray();
    }

    /// <summary>
    /// Writes the model to <paramref name="path"/>, with tensors above the threshold in an external data
    /// file beside it. Each lazy weight is produced, written and released before the next.
    /// </summary>
    public void Save(string path, SaveOptions? options = null)
    {
        options ??= new SaveOptions();
        if (options.Alignment < 1) throw new ArgumentOutOfRangeException(nameof(options), "alignment must be >= 1");
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var dataName = options.ExternalDataFile ?? Path.GetFileName(path) + "_data";
        var dataPath = Path.Combine(directory, dataName);

        var proto = _proto.Clone();
        long written = 0;
        FileStream? data = null;
        try
        {
            foreach (var init in Initializers)
            {
                var tensor = init.Materialize();
                if (tensor.ByteCount <= options.ExternalDataThreshold)
                {
                    // Inline data is copied: the source tensor may be reused by its producer.
                    var inline = TensorProtos.Header(init.Name, tensor.DType, tensor.Shape);
                    inline.RawData = ByteString.CopyFrom(tensor.Data.Span);
                    proto.Graph.Initializer.Add(inline);
                }
                else
                {
                    data ??= new FileStream(dataPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
                    long offset = (data.Position + options.Alignment - 1) / options.Alignment * options.Alignment;
                    if (offset > data.Position) data.Write(new byte[offset - data.Position]);
                    data.Write(tensor.Data.Span);
                    var external = TensorProtos.Header(init.Name, tensor.DType, tensor.Shape);
                    external.DataLocation = TensorProto.Types.DataLocation.External;
                    external.ExternalData.Add(Entry("location", dataName));
                    external.ExternalData.Add(Entry("offset", offset.ToString(CultureInfo.InvariantCulture)));
                    external.ExternalData.Add(Entry("length", tensor.ByteCount.ToString(CultureInfo.InvariantCulture)));
                    proto.Graph.Initializer.Add(external);
                }
                written += tensor.ByteCount;
                options.Progress?.Report(written);
            }
        }
        finally
        {
            data?.Dispose();
        }
        if (data is null && File.Exists(dataPath)) File.Delete(dataPath); // a stale file from an earlier save

        if (proto.CalculateSize() >= ProtobufLimit)
            throw new InvalidOperationException(
                $"model '{proto.Graph.Name}' would be {proto.CalculateSize():N0} bytes inline; lower ExternalDataThreshold");
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        proto.WriteTo(file);
    }

    private static StringStringEntryProto Entry(string key, string value) => new() { Key = key, Value = value };
}
