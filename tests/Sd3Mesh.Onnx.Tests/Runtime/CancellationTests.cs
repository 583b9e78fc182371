using Microsoft.ML.OnnxRuntime;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Tests.Runtime;

public sealed class CancellationTests
{
    [Fact]
    public async Task Cancelling_the_token_terminates_a_long_run_and_the_session_serves_the_next()
    {
        // 3000 MatMuls of [512, 512] (800 GFLOP): seconds on one thread; cancelled after 300 ms.
        using var session = OnnxSession.Create(TestModels.LongChain(512, 3000), new SessionSettings { IntraOpThreads = 1 });
        var x = Tensor.FromArray(TestModels.Floats(512 * 512), 512, 512);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var started = DateTime.UtcNow;
        var run = Task.Run(() => session.Run(new Dictionary<string, Tensor> { ["x"] = x }, null, cts.Token));
        var e = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5), "the run stopped at an operator boundary, not at its end");
        Assert.Equal(cts.Token, e.CancellationToken);
        var ort = Assert.IsType<OnnxRuntimeException>(e.InnerException);
        Assert.Contains("terminate", ort.Message, StringComparison.OrdinalIgnoreCase);

        // The terminate flag belonged to that run only.
        using var small = OnnxSession.Create(TestModels.MatMulAdd());
        var y = small.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(new float[4], 1, 4) }, null, CancellationToken.None);
        Assert.Equal(TestModels.B, y["y"].ToArray<float>());
        using var live = new CancellationTokenSource();
        y = small.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(new float[4], 1, 4) }, null, live.Token);
        Assert.Equal(TestModels.B, y["y"].ToArray<float>());
    }

    [Fact]
    public void An_already_cancelled_token_stops_before_running()
    {
        using var session = OnnxSession.Create(TestModels.MatMulAdd());
        var e = Assert.ThrowsAny<OperationCanceledException>(() =>
            session.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(new float[4], 1, 4) }, null, new CancellationToken(true)));
        Assert.Null(e.InnerException);
    }

    [Fact]
    public async Task A_binding_run_is_cancelled_the_same_way()
    {
        using var session = OnnxSession.Create(TestModels.LongChain(512, 3000), new SessionSettings { IntraOpThreads = 1 });
        using var binding = session.CreateBinding();
        binding.BindInput("x", Tensor.FromArray(TestModels.Floats(512 * 512), 512, 512));
        binding.BindOutput("y", Device.Cpu);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Task.Run(() => session.Run(binding, cts.Token)));
    }
}
