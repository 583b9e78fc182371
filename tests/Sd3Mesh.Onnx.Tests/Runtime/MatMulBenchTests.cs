using Sd3Mesh.Onnx.Diagnostics;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Tests.Runtime;

public sealed class MatMulBenchTests
{
    [Fact]
    public void The_benchmark_model_computes_x_times_w()
    {
        const int n = 24;
        using var session = OnnxSession.Create(MatMulBench.Model(n, DType.Float32));
        var x = MatMulBench.Input(n, DType.Float32);
        var w = Sd3Mesh.Onnx.Writer.TensorProtos.ToTensor(Sd3Mesh.Onnx.Proto.ModelProto.Parser.ParseFrom(MatMulBench.Model(n, DType.Float32)).Graph.Initializer.Single());
        var expected = ReferenceMath.MatMul(Array.ConvertAll(x.ToArray<float>(), v => (double)v), Array.ConvertAll(w.ToArray<float>(), v => (double)v), n, n, n);
        TestModels.AssertClose(expected, session.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"].ToArray<float>(), 1e-5);
    }

    [Fact]
    public void All_three_transfer_modes_are_measured()
    {
        int steps = 0;
        var results = MatMulBench.Run(Device.Cpu, 32, DType.Float32, iterations: 3, warmup: 1, () => steps++);
        Assert.Equal([TransferMode.DeviceResident, TransferMode.CopyBack, TransferMode.HostRoundTrip], results.Select(r => r.Mode));
        Assert.Equal(3 * (3 + 1), steps);
        Assert.All(results, r =>
        {
            Assert.True(r.MillisecondsPerRun > 0);
            Assert.Equal(2.0 * 32 * 32 * 32 / (r.MillisecondsPerRun * 1e-3) / 1e12, r.TflopsPerSecond, 9);
        });
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => MatMulBench.Run(Device.Cpu, 0, DType.Float32, 1, 0));
        Assert.StartsWith("size must be >= 1", e.Message);
    }
}
