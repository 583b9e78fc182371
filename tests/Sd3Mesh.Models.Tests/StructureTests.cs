using System.Text.Json;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Onnx.Tests;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Tests;

/// <summary>The tiny repository's files pass ONNX's own checker (python3-onnx, strict shape inference).</summary>
public sealed class StructureTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("fp32")]
    [InlineData("fp16")]
    public void Tiny_models_pass_the_onnx_checker(string precision)
    {
        ModelZoo.Create("tiny", Precision.Parse(precision), seed: 1, _dir.Path);
        foreach (var s in Submodules.All)
        {
            var path = Path.Combine(_dir.Path, s.FolderName(), "model.onnx");
            using var doc = JsonDocument.Parse(Python.Run("check_model.py", path));
            var root = doc.RootElement;
            Assert.Equal(8, root.GetProperty("ir_version").GetInt32());
            Assert.Equal(17, root.GetProperty("opsets").GetProperty("").GetInt32());
            var sig = OnnxSignature.Read(path);
            Assert.Equal(sig.Outputs.Select(o => o.Name), root.GetProperty("outputs").EnumerateArray().Select(e => e.GetString()));
        }
    }
}
