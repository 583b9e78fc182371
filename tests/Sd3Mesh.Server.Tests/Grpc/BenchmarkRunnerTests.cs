using Sd3Mesh.Server.Benchmark;
using Sd3Mesh.Server.Grpc;
using Sd3Mesh.Server.Tests.Echo;

namespace Sd3Mesh.Server.Tests.Grpc;

public class BenchmarkRunnerTests
{
    [Fact]
    public async Task The_runner_measures_all_four_figures_on_a_tiny_workload()
    {
        await using var echo = await EchoServer.StartAsync();
        var result = await RpcBenchmarkRunner.RunAsync(echo.Channel, calls: 20, streamBytes: 4 * 64 * 1024, frameBytes: 64 * 1024);
        Assert.InRange(result.UnaryP50Us, 1, result.UnaryP99Us);
        Assert.True(result.DownloadMiBps > 0 && double.IsFinite(result.DownloadMiBps));
        Assert.True(result.UploadMiBps > 0 && double.IsFinite(result.UploadMiBps));
    }

    [Fact]
    public void The_pattern_is_the_documented_formula_and_mismatches_are_found()
    {
        var data = new byte[1000];
        BytePattern.Fill(data, 123_456_789);
        for (int i = 0; i < data.Length; i++) Assert.Equal((byte)(((123_456_789L + i) * 31 + 7) % 251), data[i]);
        Assert.Equal(-1, BytePattern.FindMismatch(data, 123_456_789));
        data[500]++;
        Assert.Equal(123_456_789 + 500, BytePattern.FindMismatch(data, 123_456_789));
    }
}

public class DelayProxyTests
{
    [Fact]
    public async Task Calls_through_the_proxy_take_at_least_its_round_trip_and_bytes_arrive_intact()
    {
        await using var echo = await EchoServer.StartAsync();
        await using var proxy = new DelayProxy(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, echo.Port), TimeSpan.FromMilliseconds(40));
        using var channel = GrpcChannels.Create($"http://127.0.0.1:{proxy.Port}");
        var client = new Echo.Echo.EchoClient(channel);
        var payload = new byte[300_000];
        BytePattern.Fill(payload, 0);
        await client.SayAsync(new EchoRequest()); // connection set-up
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var reply = await client.SayAsync(new EchoRequest { Payload = Google.Protobuf.ByteString.CopyFrom(payload) });
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(40), $"took {clock.Elapsed.TotalMilliseconds} ms");
        Assert.Equal(-1, BytePattern.FindMismatch(reply.Payload.Span, 0));
        Assert.Equal(payload.Length, reply.Payload.Length);
    }
}
