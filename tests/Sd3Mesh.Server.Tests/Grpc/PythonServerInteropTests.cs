using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Sd3Mesh.Server.Grpc;
using Sd3Mesh.Server.Tests.Echo;

namespace Sd3Mesh.Server.Tests.Grpc;

/// <summary>One grpcio (Python) server process for the tests of this class.</summary>
public sealed class PythonServerFixture : IAsyncLifetime
{
    public PythonPeer Peer { get; private set; } = null!;
    public GrpcChannel Channel { get; private set; } = null!;
    public Echo.Echo.EchoClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Peer = await PythonPeer.StartServerAsync();
        Channel = GrpcChannels.Create($"http://{Peer.Address}");
        Client = new Echo.Echo.EchoClient(Channel);
    }

    public async Task DisposeAsync()
    {
        Channel.Dispose();
        await Peer.DisposeAsync();
    }
}

/// <summary>grpc-dotnet's client, as Sd3Mesh configures it, calling a grpcio (Python) server.</summary>
public class PythonServerInteropTests(PythonServerFixture python) : IClassFixture<PythonServerFixture>
{
    private Echo.Echo.EchoClient Client => python.Client;

    [Fact]
    public async Task Unary()
    {
        var reply = await Client.SayAsync(new EchoRequest { Text = "héllo", Payload = ByteString.CopyFrom(0, 1, 255) });
        Assert.Equal("héllo", reply.Text);
        Assert.Equal(new byte[] { 0, 1, 255 }, reply.Payload.ToByteArray());
    }

    [Fact]
    public async Task Server_streaming()
    {
        using var call = Client.Repeat(new EchoRequest { Text = "r", Count = 5 });
        var indices = new List<int>();
        await foreach (var reply in call.ResponseStream.ReadAllAsync()) indices.Add(reply.Index);
        Assert.Equal([0, 1, 2, 3, 4], indices);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Client_streaming()
    {
        using var call = Client.Collect();
        foreach (var text in new[] { "a", "b", "c" })
            await call.RequestStream.WriteAsync(new EchoRequest { Text = text, Payload = ByteString.CopyFromUtf8(text) });
        await call.RequestStream.CompleteAsync();
        var reply = await call.ResponseAsync;
        Assert.Equal(("a,b,c", 3, "abc"), (reply.Text, reply.Index, reply.Payload.ToStringUtf8()));
    }

    [Fact]
    public async Task Bidirectional_ping_pong()
    {
        using var call = Client.Chat();
        foreach (var (text, index) in new[] { ("x", 0), ("y", 1), ("z", 2) })
        {
            // The reply to each request arrives before the next request is sent.
            await call.RequestStream.WriteAsync(new EchoRequest { Text = text });
            Assert.True(await call.ResponseStream.MoveNext());
            Assert.Equal((text, index), (call.ResponseStream.Current.Text, call.ResponseStream.Current.Index));
        }
        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext());
    }

    [Fact]
    public async Task Hundred_megabyte_server_stream_every_byte_checked() =>
        Assert.Equal((100L * 1024 * 1024, 100), await BigStream.DownloadAndCheckAsync(python.Channel, 100L * 1024 * 1024, 1024 * 1024));

    [Fact]
    public async Task Deadline_exceeded_locally_and_on_the_server()
    {
        // grpcio never runs a handler whose deadline passed before it read the request, and then prints
        // nothing: a warm connection and a deadline long enough for a busy machine make sure it runs.
        await Client.SayAsync(new EchoRequest { Text = "warm-up" });
        var started = DateTime.UtcNow;
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await Client.SayAsync(new EchoRequest { Text = "slow", DelayMs = 10_000 }, deadline: DateTime.UtcNow.AddSeconds(1)));
        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(950), TimeSpan.FromSeconds(5));
        // grpcio's server saw the call end (its handler polls context.is_active()).
        await python.Peer.WaitForLineAsync(l => l == "CANCELLED Say", TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Cancellation_mid_stream_resets_the_stream_and_the_server_sees_it()
    {
        using var cts = new CancellationTokenSource();
        using var call = Client.Repeat(new EchoRequest { Text = "c", Count = 100_000, DelayMs = 20 }, cancellationToken: cts.Token);
        int received = 0;
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext())
                if (++received == 3) cts.Cancel();
        });
        Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        Assert.Equal(3, received);
        await python.Peer.WaitForLineAsync(l => l == "CANCELLED Repeat", TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Oversize_response_is_resource_exhausted()
    {
        using var small = GrpcChannels.Create(new Uri($"http://{python.Peer.Address}"), maxReceiveMessageSize: 1024 * 1024);
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await new Echo.Echo.EchoClient(small).SayAsync(new EchoRequest { Payload = ByteString.CopyFrom(new byte[2 * 1024 * 1024]) }));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains("exceeds the maximum configured message size", error.Status.Detail);
    }

    [Fact]
    public async Task Oversize_request_fails_before_sending()
    {
        using var small = GrpcChannels.Create(new Uri($"http://{python.Peer.Address}"), maxSendMessageSize: 1000);
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await new Echo.Echo.EchoClient(small).SayAsync(new EchoRequest { Payload = ByteString.CopyFrom(new byte[2000]) }));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains("exceeds the maximum configured message size", error.Status.Detail);
    }

    [Fact]
    public async Task A_service_the_server_lacks_is_unimplemented()
    {
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await new global::Grpc.Health.V1.Health.HealthClient(python.Channel).CheckAsync(new global::Grpc.Health.V1.HealthCheckRequest()));
        Assert.Equal(StatusCode.Unimplemented, error.StatusCode);
    }

    [Fact]
    public async Task Error_status_with_a_non_ascii_message()
    {
        var error = await Assert.ThrowsAsync<RpcException>(async () => await Client.SayAsync(
            new EchoRequest { FailCode = (int)StatusCode.FailedPrecondition, FailMessage = "ünïcode 100% ✓\ttab" }));
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Equal("ünïcode 100% ✓\ttab", error.Status.Detail);
    }

    [Fact]
    public async Task Metadata_ascii_and_binary_both_ways()
    {
        var headers = new Metadata { { "x-text", "plain value" }, { "x-blob-bin", new byte[] { 0, 1, 0xfe, 0xff } } };
        using var call = Client.SayAsync(new EchoRequest { Text = "m" }, headers);
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
        var reply = await Client.SayAsync(new EchoRequest { Payload = payload },
            new Metadata { { "grpc-internal-encoding-request", "gzip" }, { "x-respond-gzip", "1" } });
        Assert.Equal(payload, reply.Payload);
    }
}
