using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Sd3Mesh.Rpc.Tests.Echo;

namespace Sd3Mesh.Rpc.Tests;

public class LifecycleTests
{
    [Fact]
    public async Task Graceful_stop_drains_in_flight_calls_and_refuses_new_ones()
    {
        await using var echo = await EchoServer.StartAsync();
        // Held until the refused call has its answer: the server keeps listening only while a call drains.
        echo.Echo.Hold = new(TaskCreationOptions.RunContinuationsAsynchronously);
        var slow = echo.Channel.UnaryAsync(EchoMethods.Say, new EchoRequest { Text = "finishes" });
        await echo.Echo.Started.Task.WaitAsync(TimeSpan.FromSeconds(5));

        var stop = echo.Server.StopAsync(TimeSpan.FromSeconds(30));
        await WaitUntil(() => echo.Server.Dispatcher.IsDraining);
        var refused = await Assert.ThrowsAsync<RpcException>(() => echo.Channel.UnaryAsync(EchoMethods.Say, new EchoRequest()));
        Assert.Equal(new Status(StatusCode.Unavailable, "the server is shutting down; retry on another server"), refused.Status);

        echo.Echo.Hold.SetResult();
        Assert.Equal("finishes", (await slow).Text);
        await stop.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(echo.Echo.Cancelled.Task.IsCompleted);
    }

    [Fact]
    public async Task Calls_still_running_after_the_drain_timeout_are_cancelled()
    {
        await using var echo = await EchoServer.StartAsync();
        var slow = echo.Channel.UnaryAsync(EchoMethods.Say, new EchoRequest { DelayMs = 30_000 });
        await echo.Echo.Started.Task.WaitAsync(TimeSpan.FromSeconds(5));
        await echo.Server.StopAsync(TimeSpan.FromMilliseconds(200)).WaitAsync(TimeSpan.FromSeconds(10));
        var error = await Assert.ThrowsAsync<RpcException>(() => slow);
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        await echo.Echo.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (int i = 0; i < 500 && !condition(); i++) await Task.Delay(10);
        Assert.True(condition());
    }

    [Theory]
    [InlineData(404, StatusCode.Unimplemented)]
    [InlineData(503, StatusCode.Unavailable)]
    [InlineData(429, StatusCode.Unavailable)]
    [InlineData(401, StatusCode.Unauthenticated)]
    [InlineData(400, StatusCode.Internal)]
    [InlineData(500, StatusCode.Unknown)]
    public async Task Http_status_without_grpc_status_maps_per_the_spec(int httpStatus, StatusCode expected)
    {
        await using var plain = await PlainHttp2Server.StartAsync(async http =>
        {
            http.Response.StatusCode = httpStatus;
            await http.Response.WriteAsync("not grpc");
        });
        using var channel = new GrpcChannel(plain.Address);
        var error = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(EchoMethods.Say, new EchoRequest()));
        Assert.Equal(expected, error.StatusCode);
        Assert.StartsWith($"HTTP status {httpStatus}", error.Status.Detail);
    }

    [Fact]
    public async Task A_grpc_response_without_grpc_status_is_unknown()
    {
        await using var plain = await PlainHttp2Server.StartAsync(async http =>
        {
            http.Response.ContentType = "application/grpc";
            await http.Response.Body.WriteAsync(new byte[] { 0, 0, 0, 0, 0 });
        });
        using var channel = new GrpcChannel(plain.Address);
        var error = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(EchoMethods.Say, new EchoRequest()));
        Assert.Equal(new Status(StatusCode.Unknown, "the response ended without a grpc-status"), error.Status);
    }

    [Fact]
    public async Task A_200_that_is_not_grpc_is_unknown()
    {
        await using var plain = await PlainHttp2Server.StartAsync(async http =>
        {
            http.Response.ContentType = "text/html";
            await http.Response.WriteAsync("<html/>");
        });
        using var channel = new GrpcChannel(plain.Address);
        var error = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(EchoMethods.Say, new EchoRequest()));
        Assert.Equal(StatusCode.Unknown, error.StatusCode);
        Assert.Contains("text/html", error.Status.Detail);
    }

    /// <summary>An HTTP/2 server that is not a gRPC server (a misconfigured proxy, say).</summary>
    private sealed class PlainHttp2Server : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private PlainHttp2Server(WebApplication app, Uri address) { _app = app; Address = address; }
        public Uri Address { get; }

        public static async Task<PlainHttp2Server> StartAsync(RequestDelegate handler)
        {
            var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
            builder.WebHost.UseKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
            var app = builder.Build();
            app.Run(handler);
            await app.StartAsync();
            var address = app.Urls.First();
            return new PlainHttp2Server(app, new Uri(address));
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }
}
