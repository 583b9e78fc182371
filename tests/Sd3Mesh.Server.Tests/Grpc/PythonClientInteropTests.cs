using System.Text.Json;
using Grpc.Core;

namespace Sd3Mesh.Server.Tests.Grpc;

/// <summary>grpcio (Python) clients calling grpc-dotnet's server as Sd3Mesh hosts it.</summary>
public class PythonClientInteropTests
{
    private static Task<JsonElement> Run(EchoServer server, string scenario, params string[] args) =>
        PythonPeer.RunClientAsync($"127.0.0.1:{server.Port}", scenario, args);

    [Fact]
    public async Task Unary()
    {
        await using var echo = await EchoServer.StartAsync();
        var result = await Run(echo, "unary", "héllo wörld");
        Assert.Equal("héllo wörld", result.GetProperty("text").GetString());
        Assert.True(result.GetProperty("payload_ok").GetBoolean());
    }

    [Fact]
    public async Task Server_streaming()
    {
        await using var echo = await EchoServer.StartAsync();
        var result = await Run(echo, "server_stream", "5");
        Assert.Equal([0, 1, 2, 3, 4], result.GetProperty("indices").EnumerateArray().Select(e => e.GetInt32()));
    }

    [Fact]
    public async Task Client_streaming()
    {
        await using var echo = await EchoServer.StartAsync();
        var result = await Run(echo, "client_stream", "a", "b", "c");
        Assert.Equal("a,b,c", result.GetProperty("text").GetString());
        Assert.Equal(3, result.GetProperty("index").GetInt32());
        Assert.Equal("abc", result.GetProperty("payload").GetString());
    }

    [Fact]
    public async Task Bidirectional_ping_pong()
    {
        await using var echo = await EchoServer.StartAsync();
        var result = await Run(echo, "bidi", "x", "y", "z");
        var replies = result.GetProperty("replies").EnumerateArray()
            .Select(r => (r[0].GetInt32(), r[1].GetString())).ToList();
        Assert.Equal([(0, "x"), (1, "y"), (2, "z")], replies);
    }

    [Fact]
    public async Task Hundred_megabyte_server_stream_every_byte_checked()
    {
        await using var echo = await EchoServer.StartAsync();
        var result = await Run(echo, "big_stream", (100 * 1024 * 1024).ToString(), (1024 * 1024).ToString());
        Assert.Equal(100L * 1024 * 1024, result.GetProperty("bytes").GetInt64());
        Assert.Equal(100, result.GetProperty("frames").GetInt32());
    }

    [Fact]
    public async Task Deadline_exceeded_and_the_handler_sees_its_token_fire()
    {
        await using var echo = await EchoServer.StartAsync();
        var result = await Run(echo, "deadline", "0.3");
        Assert.Equal("DEADLINE_EXCEEDED", result.GetProperty("code").GetString());
        Assert.InRange(result.GetProperty("seconds").GetDouble(), 0.25, 5);
        Assert.Equal("/sd3mesh.rpc.test.Echo/Say", await echo.Echo.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Cancellation_mid_stream_reaches_the_handler()
    {
        await using var echo = await EchoServer.StartAsync();
        var result = await Run(echo, "cancel");
        Assert.Equal("CANCELLED", result.GetProperty("code").GetString());
        Assert.Equal(3, result.GetProperty("received").GetInt32());
        Assert.Equal("/sd3mesh.rpc.test.Echo/Repeat", await echo.Echo.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Oversize_message_is_resource_exhausted_and_the_server_keeps_serving()
    {
        await using var echo = await EchoServer.StartAsync(o => o.MaxReceiveMessageSize = 1024 * 1024);
        var result = await Run(echo, "oversize", (2 * 1024 * 1024).ToString());
        Assert.Equal("RESOURCE_EXHAUSTED", result.GetProperty("code").GetString());
        Assert.Contains("exceeds the maximum configured message size", result.GetProperty("details").GetString());
        Assert.Equal("OK", (await Run(echo, "oversize", "1000")).GetProperty("code").GetString());
    }

    [Fact]
    public async Task Unknown_method_is_unimplemented()
    {
        await using var echo = await EchoServer.StartAsync();
        var result = await Run(echo, "unknown_method");
        Assert.Equal("UNIMPLEMENTED", result.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Error_status_with_a_non_ascii_message()
    {
        await using var echo = await EchoServer.StartAsync();
        var result = await Run(echo, "error", "5", "no job 'ünïcode' (100% gone)\nsecond line");
        Assert.Equal("NOT_FOUND", result.GetProperty("code").GetString());
        Assert.Equal("no job 'ünïcode' (100% gone)\nsecond line", result.GetProperty("details").GetString());
    }

    [Fact]
    public async Task Metadata_ascii_and_binary_both_ways()
    {
        await using var echo = await EchoServer.StartAsync();
        var result = await Run(echo, "metadata");
        string[][] expected = [["x-blob-bin", "0001feff"], ["x-other-bin", "61"], ["x-text", "plain value"]];
        foreach (var part in new[] { "initial", "trailing" })
        {
            var actual = result.GetProperty(part).EnumerateArray().Select(p => new[] { p[0].GetString()!, p[1].GetString()! }).ToArray();
            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public async Task Gzip_requests_and_responses()
    {
        await using var echo = await EchoServer.StartAsync(o => o.ResponseCompression = "gzip");
        var result = await Run(echo, "gzip");
        Assert.True(result.GetProperty("payload_ok").GetBoolean());
        Assert.True(echo.Echo.RequestEncodings.TryDequeue(out var encoding));
        Assert.Equal("gzip", encoding);
    }

    [Fact]
    public async Task Health_check()
    {
        await using var echo = await EchoServer.StartAsync();
        var result = await Run(echo, "health", "", "sd3mesh.rpc.test.Echo", "no.Such");
        var statuses = result.GetProperty("statuses");
        Assert.Equal("SERVING", statuses.GetProperty("").GetString());
        Assert.Equal("SERVING", statuses.GetProperty("sd3mesh.rpc.test.Echo").GetString());
        Assert.Equal("NOT_FOUND", statuses.GetProperty("no.Such").GetString());
    }

    [Fact]
    public async Task Reflection_lists_services_and_serves_descriptors_a_client_can_call_with()
    {
        await using var echo = await EchoServer.StartAsync();
        var result = await Run(echo, "reflection");
        var services = result.GetProperty("services").EnumerateArray().Select(s => s.GetString()).Order().ToList();
        Assert.Equal(["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
            "sd3mesh.rpc.test.Echo", "sd3mesh.rpc.v1.RpcBenchmark"], services);
        Assert.Equal(["echo.proto", "google/protobuf/timestamp.proto"],
            result.GetProperty("files").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal(["Say", "Repeat", "Collect", "Chat"], result.GetProperty("methods").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal("via reflection", result.GetProperty("reply").GetString());
        Assert.Equal((int)StatusCode.NotFound, result.GetProperty("missing_file_error").GetInt32());
    }
}
