using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Tests.Runtime;

public sealed class EnvironmentTests
{
    [Fact]
    public void Environments_share_one_native_env_that_outlives_its_sessions()
    {
        var first = OrtEnvironment.Create();
        using var second = OrtEnvironment.Create();
        Assert.Same(first.Native, second.Native);

        var session = InferenceSession.Create(first, TestModels.MatMulAdd());
        first.Dispose();
        Assert.Throws<ObjectDisposedException>(() => InferenceSession.Create(first, TestModels.MatMulAdd()));
        // The session still works: it holds its own reference to the native environment.
        var y = session.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(new float[4], 1, 4) })["y"];
        Assert.Equal(TestModels.B, y.ToArray<float>());
        session.Dispose();
    }
}
