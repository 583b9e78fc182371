using System.Buffers.Binary;
using System.Text;
using Sd3Mesh.Models.Weights;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Tests;

public sealed class SafetensorsTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Writes_and_reads_every_float_type_with_the_reference_layout()
    {
        var path = _dir.Sub("model.safetensors");
        var a = Tensor.FromArray(new[] { 1f, -2.5f, 3.25f, 1e-3f, 65504f, -0f }, 2, 3);
        var b = a.ToDType(DType.Float16);
        var c = a.ToDType(DType.BFloat16);
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["a.weight"] = a, ["b"] = b, ["c"] = c }, new Dictionary<string, string> { ["format"] = "pt" });

        var bytes = File.ReadAllBytes(path);
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, headerLength % 8);
        var header = Encoding.UTF8.GetString(bytes, 8, (int)headerLength).TrimEnd(' ');
        Assert.StartsWith("{\"__metadata__\":{\"format\":\"pt\"},\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}", header);
        Assert.Equal(8 + headerLength + 24 + 12 + 12, bytes.Length);

        using var file = SafetensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(a.ToArray<float>(), file.Read("a.weight").ToArray<float>());
        Assert.Equal(DType.Float16, file.Entries["b"].DType);
        Assert.Equal(b.ToArray<Half>(), file.Read("b").ToArray<Half>());
        Assert.Equal(c.ToArray<BFloat16>(), file.Read("c").ToArray<BFloat16>());
        Assert.Equal(new TensorShape(2, 3), file.Entries["c"].Shape);
    }

    [Fact]
    public void Sharded_folders_resolve_each_tensor_to_its_shard()
    {
        SafetensorsWriter.Write(_dir.Sub("model-00001-of-00002.safetensors"), new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(new[] { 1f, 2f }, 2) });
        SafetensorsWriter.Write(_dir.Sub("model-00002-of-00002.safetensors"), new Dictionary<string, Tensor> { ["y"] = Tensor.FromArray(new[] { 3f }, 1) });
        File.WriteAllText(_dir.Sub("model.safetensors.index.json"),
            "{\"metadata\":{\"total_size\":12},\"weight_map\":{\"x\":\"model-00001-of-00002.safetensors\",\"y\":\"model-00002-of-00002.safetensors\"}}");
        using var folder = CheckpointFolder.Open(_dir.Path);
        Assert.Equal("2 shards listed by model.safetensors.index.json", folder.Description);
        var weights = new CheckpointWeights(folder, "text_encoder_3");
        Assert.Equal([3f], weights.Read("y", new TensorShape(1), WeightInit.Zeros));
        Assert.Equal([1f, 2f], weights.Read("x", new TensorShape(2), WeightInit.Zeros));
    }

    [Fact]
    public void A_shard_missing_from_disk_is_named()
    {
        File.WriteAllText(_dir.Sub("model.safetensors.index.json"), "{\"weight_map\":{\"x\":\"model-00001-of-00002.safetensors\"}}");
        var ex = Assert.Throws<ModelFormatException>(() => CheckpointFolder.Open(_dir.Path));
        Assert.Equal($"{_dir.Sub("model-00001-of-00002.safetensors")} is missing (listed by model.safetensors.index.json for tensor 'x')", ex.Message);
    }

    [Fact]
    public void Malformed_files_are_rejected_with_the_reason()
    {
        var path = _dir.Sub("bad.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        Assert.Equal($"{path}: not a safetensors file (shorter than its 8-byte header length)",
            Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path)).Message);

        var header = Encoding.UTF8.GetBytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}}");
        var bytes = new byte[8 + header.Length + 12];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        Assert.Equal($"{path}: tensor 'w' (float32 [4]) has data_offsets [0, 12] that do not fit its shape or the file",
            Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path)).Message);

        header = Encoding.UTF8.GetBytes("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}");
        bytes = new byte[8 + header.Length + 1];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        Assert.Equal($"{path}: tensor 'w' has dtype F8_E4M3, which Sd3Mesh does not read (F32, F16, BF16, F64, I64, I32, I8, U8, BOOL)",
            Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path)).Message);
    }

    [Fact]
    public void Checkpoint_weights_name_missing_and_mismatched_tensors()
    {
        SafetensorsWriter.Write(_dir.Sub("diffusion_pytorch_model.safetensors"),
            new Dictionary<string, Tensor> { ["proj.weight"] = Tensor.Zeros(DType.BFloat16, new TensorShape(4, 3)) });
        using var folder = CheckpointFolder.Open(_dir.Path);
        var weights = new CheckpointWeights(folder, "transformer");
        Assert.Equal("transformer: tensor 'proj.weight' in diffusion_pytorch_model.safetensors has shape [4, 3], expected [3, 4]",
            Assert.Throws<ModelFormatException>(() => weights.Read("proj.weight", new TensorShape(3, 4), WeightInit.Zeros)).Message);
        Assert.Equal($"transformer: tensor 'proj.bias' is missing from {_dir.Path} (diffusion_pytorch_model.safetensors)",
            Assert.Throws<ModelFormatException>(() => weights.Read("proj.bias", new TensorShape(4), WeightInit.Zeros)).Message);
        // A computed table the checkpoint lacks is computed.
        Assert.Equal([7f], weights.Read("pos_embed.pos_embed", new TensorShape(1), WeightInit.Computed(() => [7f])));
    }

    [Fact]
    public void Pickle_only_folders_say_so()
    {
        File.WriteAllBytes(_dir.Sub("pytorch_model.bin"), [0]);
        Assert.Equal($"{_dir.Path} holds only PyTorch .bin weights; Sd3Mesh reads safetensors (diffusion_pytorch_model.safetensors or model.safetensors)",
            Assert.Throws<ModelFormatException>(() => CheckpointFolder.Open(_dir.Path)).Message);
    }
}
