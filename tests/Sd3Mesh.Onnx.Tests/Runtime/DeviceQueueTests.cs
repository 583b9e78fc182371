namespace Sd3Mesh.Onnx.Tests.Runtime;

public sealed class DeviceQueueTests
{
    [Fact]
    public async Task Calls_on_one_device_run_one_at_a_time_in_order_on_its_own_thread()
    {
        var queue = DeviceQueue.For(Device.Parse("cpu:41"));
        Assert.Same(queue, DeviceQueue.For(Device.Parse("cpu:41")));
        int running = 0, maxRunning = 0;
        var order = new List<int>();
        var threads = new HashSet<int>();
        var calls = Enumerable.Range(0, 8).Select(i => queue.RunAsync(_ =>
        {
            int now = Interlocked.Increment(ref running);
            maxRunning = Math.Max(maxRunning, now);
            Thread.Sleep(5);
            lock (order) { order.Add(i); threads.Add(Environment.CurrentManagedThreadId); }
            Interlocked.Decrement(ref running);
            return i;
        })).ToList();
        Assert.Equal(Enumerable.Range(0, 8), await Task.WhenAll(calls));
        Assert.Equal(1, maxRunning);
        Assert.Equal(Enumerable.Range(0, 8), order);
        Assert.Single(threads);
        Assert.DoesNotContain(Environment.CurrentManagedThreadId, threads);
    }

    [Fact]
    public async Task Calls_on_two_devices_overlap()
    {
        // The call on cpu:43 waits for one on cpu:42: it can only finish if both run at the same time.
        using var started = new ManualResetEventSlim();
        var first = DeviceQueue.For(Device.Parse("cpu:42")).RunAsync(_ => started.Wait(TimeSpan.FromSeconds(10)));
        var second = DeviceQueue.For(Device.Parse("cpu:43")).RunAsync(_ => started.Set());
        await second;
        Assert.True(await first);
    }

    [Fact]
    public async Task Cancelled_calls_are_skipped_and_errors_reach_the_caller()
    {
        var queue = DeviceQueue.For(Device.Parse("cpu:44"));
        using var gate = new ManualResetEventSlim();
        var blocker = queue.RunAsync(_ => gate.Wait());
        using var cts = new CancellationTokenSource();
        bool ran = false;
        var skipped = queue.RunAsync(_ => ran = true, cts.Token);
        cts.Cancel();
        gate.Set();
        await blocker;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => skipped);
        Assert.False(ran);

        var failed = queue.RunAsync<int>(_ => throw new InvalidDataException("bad model"));
        Assert.Equal("bad model", (await Assert.ThrowsAsync<InvalidDataException>(() => failed)).Message);
        Assert.Equal(0, queue.Pending);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queue.RunAsync(_ => 1, new CancellationToken(true)));
    }

    [Fact]
    public async Task Awaiting_code_does_not_continue_on_the_device_thread()
    {
        var queue = DeviceQueue.For(Device.Parse("cpu:45"));
        int deviceThread = await queue.RunAsync(_ => Environment.CurrentManagedThreadId);
        await queue.RunAsync(_ => 0);
        Assert.NotEqual(deviceThread, Environment.CurrentManagedThreadId);
    }
}
