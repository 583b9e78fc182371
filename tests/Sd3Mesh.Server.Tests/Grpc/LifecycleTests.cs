using Grpc.Core;
using Sd3Mesh.Server.Grpc;
using Sd3Mesh.Server.Tests.Echo;

namespace Sd3Mesh.Server.Tests.Grpc;

/// <summary>How a host built by GrpcHosting stops: calls in flight drain, new ones are refused, stragglers are cut off.</summary>
public class LifecycleTests
{
    [Fact]
    public async Task Graceful_stop_drains_in_flight_calls_and_refuses_new_ones()
    {
        await using var echo = await EchoServer.StartAsync();
        // Held until new calls are refused: the server keeps its connections open only while a call drains.
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        echo.Echo.Hold = hold;
        var slow = echo.Client.SayAsync(new EchoRequest { Text = "finishes" }).ResponseAsync;
        await echo.Echo.Started.Task.WaitAsync(TimeSpan.FromSeconds(5));

        var stop = echo.App.StopAsync();
        RpcException? refused = null;
        for (int attempt = 0; attempt < 100 && refused is null; attempt++)
        {
            try { await echo.Client.SayAsync(new EchoRequest { Text = "late" }, deadline: DateTime.UtcNow.AddSeconds(5)); await Task.Delay(20); }
            catch (RpcException e) { refused = e; }
        }
        Assert.NotNull(refused);
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.False(stop.IsCompleted);

        hold.SetResult();
        Assert.Equal("finishes", (await slow).Text);
        await stop.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(echo.Echo.Cancelled.Task.IsCompleted);
    }

    [Fact]
    public async Task Calls_still_running_after_the_drain_timeout_are_cut_off()
    {
        await using var echo = await EchoServer.StartAsync(o => o.DrainTimeout = TimeSpan.FromMilliseconds(300));
        var slow = echo.Client.SayAsync(new EchoRequest { DelayMs = 30_000 }).ResponseAsync;
        await echo.Echo.Started.Task.WaitAsync(TimeSpan.FromSeconds(5));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await echo.App.StopAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        var error = await Assert.ThrowsAsync<RpcException>(() => slow);
        Assert.NotEqual(StatusCode.OK, error.StatusCode);
        await echo.Echo.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Theory]
    [InlineData("127.0.0.1:50051", "127.0.0.1:50051")]
    [InlineData("localhost:0", "127.0.0.1:0")]
    [InlineData("[::1]:7", "[::1]:7")]
    [InlineData("*:80", "0.0.0.0:80")]
    public void Listen_addresses(string listen, string endpoint) => Assert.Equal(endpoint, ListenAddress.Parse(listen).ToString());

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    [InlineData("host:port")]
    [InlineData("localhost:99999")]
    public void Bad_listen_addresses_are_refused(string listen) =>
        Assert.Contains("is not HOST:PORT", Assert.Throws<ArgumentException>(() => ListenAddress.Parse(listen)).Message);
}
