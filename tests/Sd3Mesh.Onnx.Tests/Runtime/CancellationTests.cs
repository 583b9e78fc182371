using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Tests.Runtime;

public sealed class CancellationTests : IDisposable
{
    private readonly OrtEnvironment _env = OrtEnvironment.Create();
    public void Dispose() => _env.Dispose();

    [Fact]
    public async Task Cancelling_the_token_terminates_a_long_run()
    {
        // 3000 MatMuls of [512, 512] (800 GFLOP): seconds on one thread; cancelled after 300 ms.
        using var session = InferenceSession.Create(_env, TestModels.LongChain(512, 3000), new SessionOptions { IntraOpThreads = 1 });
        var x = Tensor.FromArray(TestModels.Floats(512 * 512), 512, 512);
        using var options = new RunOptions { LogTag = "long" };
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var run = Task.Run(() => session.Run(new Dictionary<string, Tensor> { ["x"] = x }, null, options, cts.Token));
        var e = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.Equal(cts.Token, e.CancellationToken);
        var ort = Assert.IsType<OrtException>(e.InnerException);
        Assert.Contains("terminate", ort.Message, StringComparison.OrdinalIgnoreCase);

        // The options are reset and serve the next run.
        Assert.False(options.IsTerminateRequested);
        using var small = InferenceSession.Create(_env, TestModels.MatMulAdd());
        var y = small.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(new float[4], 1, 4) }, null, options);
        Assert.Equal(TestModels.B, y["y"].ToArray<float>());
    }

    [Fact]
    public void An_already_cancelled_token_stops_before_running()
    {
        using var session = InferenceSession.Create(_env, TestModels.MatMulAdd());
        var e = Assert.ThrowsAny<OperationCanceledException>(() =>
            session.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(new float[4], 1, 4) }, null, null, new CancellationToken(true)));
        Assert.Null(e.InnerException);
    }

    [Fact]
    public async Task RunOptions_Terminate_from_another_thread_ends_the_run_as_cancelled()
    {
        using var session = InferenceSession.Create(_env, TestModels.LongChain(512, 3000), new SessionOptions { IntraOpThreads = 1 });
        var x = Tensor.FromArray(TestModels.Floats(512 * 512), 512, 512);
        using var options = new RunOptions();
        var run = Task.Run(() => session.Run(new Dictionary<string, Tensor> { ["x"] = x }, null, options));
        await Task.Delay(300);
        options.Terminate();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.True(options.IsTerminateRequested); // explicit: the caller resets it
        options.ResetTerminate();
        Assert.False(options.IsTerminateRequested);
    }
}
