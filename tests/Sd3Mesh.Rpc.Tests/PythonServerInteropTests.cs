using Google.Protobuf;
using Sd3Mesh.Rpc.Benchmark;
using Sd3Mesh.Rpc.Tests.Echo;

namespace Sd3Mesh.Rpc.Tests;

/// <summary>One grpcio (Python) server process for the tests of this class.</summary>
public sealed class PythonServerFixture : IAsyncLifetime
{
    public PythonPeer Peer { get; private set; } = null!;
    public GrpcChannel Channel { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Peer = await PythonPeer.StartServerAsync();
        Channel = GrpcChannel.ForAddress($"http://{Peer.Address}");
    }

    public async Task DisposeAsync()
    {
        Channel.Dispose();
        await Peer.DisposeAsync();
    }
}

/// <summary>Our client calling a grpcio (Python) server.</summary>
public class PythonServerInteropTests(PythonServerFixture python) : IClassFixture<PythonServerFixture>
{
    private GrpcChannel Channel => python.Channel;

    [Fact]
    public async Task Unary()
    {
        var reply = await Channel.UnaryAsync(EchoMethods.Say, new EchoRequest { Text = "héllo", Payload = ByteString.CopyFrom(0, 1, 255) });
        Assert.Equal("héllo", reply.Text);
        Assert.Equal(new byte[] { 0, 1, 255 }, reply.Payload.ToByteArray());
    }

    [Fact]
    public async Task Server_streaming()
    {
        using var call = Channel.ServerStreaming(EchoMethods.Repeat, new EchoRequest { Text = "r", Count = 5 });
        var indices = new List<int>();
        await foreach (var reply in call.ResponseStream) indices.Add(reply.Index);
        Assert.Equal([0, 1, 2, 3, 4], indices);
        Assert.Equal(StatusCode.OK, call.GetStatus().Code);
    }

    [Fact]
    public async Task Client_streaming()
    {
        using var call = Channel.ClientStreaming(EchoMethods.Collect);
        foreach (var text in new[] { "a", "b", "c" })
            await call.RequestStream.WriteAsync(new EchoRequest { Text = text, Payload = ByteString.CopyFromUtf8(text) });
        await call.RequestStream.CompleteAsync();
        var reply = await call.ResponseAsync;
        Assert.Equal(("a,b,c", 3, "abc"), (reply.Text, reply.Index, reply.Payload.ToStringUtf8()));
    }

    [Fact]
    public async Task Bidirectional_ping_pong()
    {
        using var call = Channel.DuplexStreaming(EchoMethods.Chat);
        await using var replies = call.ResponseStream.GetAsyncEnumerator();
        foreach (var (text, index) in new[] { ("x", 0), ("y", 1), ("z", 2) })
        {
            // The reply to each request arrives before the next request is sent.
            await call.RequestStream.WriteAsync(new EchoRequest { Text = text });
            Assert.True(await replies.MoveNextAsync());
            Assert.Equal((text, index), (replies.Current.Text, replies.Current.Index));
        }
        await call.RequestStream.CompleteAsync();
        Assert.False(await replies.MoveNextAsync());
    }

    [Fact]
    public async Task Hundred_megabyte_server_stream_every_byte_checked() =>
        Assert.Equal((100L * 1024 * 1024, 100), await BigStream.DownloadAndCheckAsync(Channel, 100L * 1024 * 1024, 1024 * 1024));

    [Fact]
    public async Task Deadline_exceeded_locally_and_on_the_server()
    {
        // grpcio never runs a handler whose deadline passed before it read the request, and then prints
        // nothing: a warm connection and a deadline long enough for a busy machine make sure it runs.
        await Channel.UnaryAsync(EchoMethods.Say, new EchoRequest { Text = "warm-up" });
        var started = DateTime.UtcNow;
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            Channel.UnaryAsync(EchoMethods.Say, new EchoRequest { Text = "slow", DelayMs = 10_000 }, CallOptions.WithTimeout(TimeSpan.FromSeconds(1))));
        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(950), TimeSpan.FromSeconds(5));
        // grpcio's server saw the call end (its handler polls context.is_active()).
        await python.Peer.WaitForLineAsync(l => l == "CANCELLED Say", TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Cancellation_mid_stream_resets_the_stream_and_the_server_sees_it()
    {
        using var cts = new CancellationTokenSource();
        using var call = Channel.ServerStreaming(EchoMethods.Repeat, new EchoRequest { Text = "c", Count = 100_000, DelayMs = 20 },
            new CallOptions { CancellationToken = cts.Token });
        int received = 0;
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var _ in call.ResponseStream)
                if (++received == 3) cts.Cancel();
        });
        Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        Assert.Equal(3, received);
        await python.Peer.WaitForLineAsync(l => l == "CANCELLED Repeat", TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Oversize_response_is_resource_exhausted()
    {
        using var small = new GrpcChannel(Channel.Address, new GrpcChannelOptions { MaxReceiveMessageSize = 1024 * 1024 });
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            small.UnaryAsync(EchoMethods.Say, new EchoRequest { Payload = ByteString.CopyFrom(new byte[2 * 1024 * 1024]) }));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains("exceeds the limit of 1048576 bytes", error.Status.Detail);
    }

    [Fact]
    public async Task Oversize_request_fails_before_sending()
    {
        using var small = new GrpcChannel(Channel.Address, new GrpcChannelOptions { MaxSendMessageSize = 1000 });
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            small.UnaryAsync(EchoMethods.Say, new EchoRequest { Payload = ByteString.CopyFrom(new byte[2000]) }));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains("exceeds the send limit of 1000 bytes", error.Status.Detail);
    }

    [Fact]
    public async Task Unknown_method_is_unimplemented()
    {
        var method = Method<Grpc.Health.V1.HealthCheckRequest, Grpc.Health.V1.HealthCheckResponse>.From(
            Grpc.Health.V1.HealthReflection.Descriptor.Services[0].FindMethodByName("Check"));
        var error = await Assert.ThrowsAsync<RpcException>(() => Channel.UnaryAsync(method, new Grpc.Health.V1.HealthCheckRequest()));
        Assert.Equal(StatusCode.Unimplemented, error.StatusCode);
    }

    [Fact]
    public async Task Error_status_with_a_non_ascii_message()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => Channel.UnaryAsync(EchoMethods.Say,
            new EchoRequest { FailCode = (int)StatusCode.FailedPrecondition, FailMessage = "ünïcode 100% ✓\ttab" }));
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Equal("ünïcode 100% ✓\ttab", error.Status.Detail);
    }

    [Fact]
    public async Task Metadata_ascii_and_binary_both_ways()
    {
        var headers = new Metadata().Add("x-text", "plain value").Add("x-blob-bin", [0, 1, 0xfe, 0xff]);
        using var call = Channel.Unary(EchoMethods.Say, new EchoRequest { Text = "m" }, new CallOptions { Headers = headers });
        await call;
        var responseHeaders = await call.ResponseHeadersAsync;
        foreach (var metadata in new[] { responseHeaders, call.GetTrailers() })
        {
            Assert.Equal("plain value", metadata.GetValue("x-text"));
            Assert.Equal(new byte[] { 0, 1, 0xfe, 0xff }, metadata.GetValueBytes("x-blob-bin"));
        }
    }

    [Fact]
    public async Task Gzip_requests_and_responses()
    {
        var payload = ByteString.CopyFromUtf8(string.Concat(Enumerable.Repeat("compressible ", 10_000)));
        var reply = await Channel.UnaryAsync(EchoMethods.Say, new EchoRequest { Payload = payload },
            new CallOptions { Compression = "gzip", Headers = new Metadata().Add("x-respond-gzip", "1") });
        Assert.Equal(payload, reply.Payload);
    }
}
