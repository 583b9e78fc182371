using System.Buffers.Binary;
using System.IO.Compression;
using System.Net;
using Google.Protobuf;
using Grpc.Core;
using Sd3Mesh.Protos.Benchmark;
using Sd3Mesh.Server.Benchmark;
using Sd3Mesh.Server.Grpc;
using Sd3Mesh.Server.Tests.Echo;

namespace Sd3Mesh.Server.Tests.Grpc;

/// <summary>
/// grpc-dotnet's client calling grpc-dotnet's server as Sd3Mesh hosts it: every call type and how calls end
/// (deadlines, cancellation, size limits, gzip, metadata, status codes, TLS).
/// </summary>
public class CallTypeTests
{
    private static (StatusCode, string) Of(RpcException e) => (e.StatusCode, e.Status.Detail);

    [Fact]
    public async Task Unary()
    {
        await using var echo = await EchoServer.StartAsync();
        using var call = echo.Client.SayAsync(new EchoRequest { Text = "héllo", Payload = ByteString.CopyFrom(1, 2, 3) });
        var reply = await call;
        Assert.Equal("héllo", reply.Text);
        Assert.Equal(new byte[] { 1, 2, 3 }, reply.Payload.ToByteArray());
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Server_streaming()
    {
        await using var echo = await EchoServer.StartAsync();
        using var call = echo.Client.Repeat(new EchoRequest { Text = "r", Count = 4 });
        var replies = new List<(int, string)>();
        await foreach (var reply in call.ResponseStream.ReadAllAsync()) replies.Add((reply.Index, reply.Text));
        Assert.Equal([(0, "r"), (1, "r"), (2, "r"), (3, "r")], replies);
    }

    [Fact]
    public async Task Server_streaming_error_after_some_messages()
    {
        await using var echo = await EchoServer.StartAsync();
        using var call = echo.Client.Repeat(new EchoRequest { Count = 2, FailCode = (int)StatusCode.Aborted, FailMessage = "stopped" });
        int received = 0;
        var error = await Assert.ThrowsAsync<RpcException>(async () => { await foreach (var _ in call.ResponseStream.ReadAllAsync()) received++; });
        Assert.Equal((2, (StatusCode.Aborted, "stopped")), (received, Of(error)));
    }

    [Fact]
    public async Task Client_streaming()
    {
        await using var echo = await EchoServer.StartAsync();
        using var call = echo.Client.Collect();
        foreach (var text in new[] { "a", "b", "c", "d" })
            await call.RequestStream.WriteAsync(new EchoRequest { Text = text, Payload = ByteString.CopyFromUtf8(text) });
        await call.RequestStream.CompleteAsync();
        var reply = await call.ResponseAsync;
        Assert.Equal(("a,b,c,d", 4, "abcd"), (reply.Text, reply.Index, reply.Payload.ToStringUtf8()));
    }

    [Fact]
    public async Task Client_streaming_server_error_ends_the_call()
    {
        await using var echo = await EchoServer.StartAsync();
        using var call = echo.Client.Collect();
        await call.RequestStream.WriteAsync(new EchoRequest { Text = "a", FailCode = (int)StatusCode.InvalidArgument, FailMessage = "bad a" });
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.Equal((StatusCode.InvalidArgument, "bad a"), Of(error));
        var writeError = await Assert.ThrowsAnyAsync<Exception>(() => call.RequestStream.WriteAsync(new EchoRequest { Text = "b" }));
        Assert.True(writeError is RpcException { StatusCode: StatusCode.InvalidArgument } or InvalidOperationException, writeError.ToString());
    }

    [Fact]
    public async Task Duplex_ping_pong()
    {
        await using var echo = await EchoServer.StartAsync();
        using var call = echo.Client.Chat();
        for (int i = 0; i < 5; i++)
        {
            await call.RequestStream.WriteAsync(new EchoRequest { Text = $"m{i}" });
            Assert.True(await call.ResponseStream.MoveNext());
            Assert.Equal(($"m{i}", i), (call.ResponseStream.Current.Text, call.ResponseStream.Current.Index));
        }
        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext());
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Hundred_megabyte_server_stream_every_byte_checked()
    {
        await using var echo = await EchoServer.StartAsync();
        Assert.Equal((100L * 1024 * 1024, 100), await BigStream.DownloadAndCheckAsync(echo.Channel, 100L * 1024 * 1024, 1024 * 1024));
    }

    [Fact]
    public async Task Large_request_messages_and_a_large_upload()
    {
        await using var echo = await EchoServer.StartAsync();
        // One 20 MiB request message: larger than every HTTP/2 window, so the server must keep reading
        // while the message is incomplete.
        var big = new byte[20 * 1024 * 1024];
        BytePattern.Fill(big, 0);
        var reply = await echo.Client.SayAsync(new EchoRequest { Payload = UnsafeByteOperations.UnsafeWrap(big) });
        Assert.Equal(-1, BytePattern.FindMismatch(reply.Payload.Span, 0));
        Assert.Equal(big.Length, reply.Payload.Length);

        using var call = new RpcBenchmark.RpcBenchmarkClient(echo.Channel).Upload();
        var frame = new Payload { Data = ByteString.CopyFrom(new byte[1024 * 1024]) };
        for (int i = 0; i < 32; i++) await call.RequestStream.WriteAsync(frame);
        await call.RequestStream.CompleteAsync();
        var summary = await call.ResponseAsync;
        Assert.Equal((32UL * 1024 * 1024, 32UL), (summary.TotalBytes, summary.Frames));
    }

    [Fact]
    public async Task Deadline_fails_the_call_and_fires_the_handler_token()
    {
        await using var echo = await EchoServer.StartAsync();
        var started = DateTime.UtcNow;
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await echo.Client.SayAsync(new EchoRequest { DelayMs = 10_000 }, deadline: DateTime.UtcNow.AddMilliseconds(200)));
        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(150), TimeSpan.FromSeconds(5));
        Assert.Equal("/sd3mesh.rpc.test.Echo/Say", await echo.Echo.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Deadline_already_past_fails_at_once()
    {
        await using var echo = await EchoServer.StartAsync();
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await echo.Client.SayAsync(new EchoRequest(), deadline: DateTime.UtcNow.AddSeconds(-1)));
        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        Assert.False(echo.Echo.Started.Task.IsCompleted);
    }

    [Fact]
    public async Task Cancelling_mid_stream_fires_the_handler_token()
    {
        await using var echo = await EchoServer.StartAsync();
        using var cts = new CancellationTokenSource();
        using var call = echo.Client.Repeat(new EchoRequest { Count = 100_000, DelayMs = 10 }, cancellationToken: cts.Token);
        int received = 0;
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext())
                if (++received == 3) cts.Cancel();
        });
        Assert.Equal((StatusCode.Cancelled, 3), (error.StatusCode, received));
        Assert.Equal("/sd3mesh.rpc.test.Echo/Repeat", await echo.Echo.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Disposing_a_duplex_call_cancels_it_on_the_server()
    {
        await using var echo = await EchoServer.StartAsync();
        var call = echo.Client.Chat();
        await call.RequestStream.WriteAsync(new EchoRequest { DelayMs = 10_000 });
        await echo.Echo.Started.Task.WaitAsync(TimeSpan.FromSeconds(5));
        call.Dispose();
        Assert.Equal("/sd3mesh.rpc.test.Echo/Chat", await echo.Echo.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(StatusCode.Cancelled, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Oversize_messages_both_ways_are_resource_exhausted()
    {
        await using var echo = await EchoServer.StartAsync(o => { o.MaxReceiveMessageSize = 64 * 1024; o.MaxSendMessageSize = 64 * 1024; });
        var tooBig = new EchoRequest { Payload = ByteString.CopyFrom(new byte[100 * 1024]) };
        var received = await Assert.ThrowsAsync<RpcException>(async () => await echo.Client.SayAsync(tooBig));
        Assert.Equal(StatusCode.ResourceExhausted, received.StatusCode);
        Assert.Contains("exceeds the maximum configured message size", received.Status.Detail);

        // 60 KiB in, but 3 x 60 KiB out through Collect's concatenation: the server refuses to send it.
        using var call = echo.Client.Collect();
        for (int i = 0; i < 3; i++) await call.RequestStream.WriteAsync(new EchoRequest { Payload = ByteString.CopyFrom(new byte[60 * 1024]) });
        await call.RequestStream.CompleteAsync();
        var sent = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, sent.StatusCode);

        // The default limits take the API's largest messages: a 32 MiB init image plus its request.
        await using var defaults = await EchoServer.StartAsync();
        var initImageSized = new EchoRequest { Payload = ByteString.CopyFrom(new byte[33 * 1024 * 1024]) };
        Assert.Equal(33 * 1024 * 1024, (await defaults.Client.SayAsync(initImageSized)).Payload.Length);
    }

    [Fact]
    public async Task Gzip_requests_and_responses()
    {
        await using var echo = await EchoServer.StartAsync(o => o.ResponseCompression = "gzip");
        var payload = ByteString.CopyFromUtf8(string.Concat(Enumerable.Repeat("zip ", 50_000)));
        var headers = new Metadata { { "grpc-internal-encoding-request", "gzip" } }; // grpc-dotnet's switch for compressing a request
        var reply = await echo.Client.SayAsync(new EchoRequest { Payload = payload }, headers);
        Assert.Equal(payload, reply.Payload);
        Assert.True(echo.Echo.RequestEncodings.TryDequeue(out var encoding));
        Assert.Equal("gzip", encoding);
    }

    [Fact]
    public async Task Metadata_both_ways()
    {
        await using var echo = await EchoServer.StartAsync();
        var headers = new Metadata { { "x-text", "value" }, { "x-blob-bin", new byte[] { 0, 0xff } } };
        using var call = echo.Client.SayAsync(new EchoRequest(), headers);
        await call;
        var responseHeaders = await call.ResponseHeadersAsync;
        Assert.Equal("value", responseHeaders.GetValue("x-text"));
        Assert.Equal(new byte[] { 0, 0xff }, responseHeaders.GetValueBytes("x-blob-bin"));
        Assert.Equal(["x-text", "x-blob-bin"], call.GetTrailers().Select(e => e.Key));
    }

    [Theory]
    [InlineData("argument", StatusCode.InvalidArgument, "steps must be 1 .. 1000")]
    [InlineData("missing", StatusCode.NotFound, "no job 42")]
    [InlineData("device", StatusCode.FailedPrecondition, "cuda:0: install CUDA 13")]
    [InlineData("unsupported", StatusCode.Unimplemented, "no such thing")]
    [InlineData("bug", StatusCode.Internal, "internal error (NullReferenceException); details are in the server log")]
    public async Task Handler_exceptions_map_to_status_codes(string kind, StatusCode code, string detail)
    {
        await using var echo = await EchoServer.StartAsync();
        var error = await Assert.ThrowsAsync<RpcException>(async () => await echo.Client.SayAsync(new EchoRequest { Text = "throw:" + kind }));
        Assert.Equal((code, detail), Of(error));
        // Streaming calls too.
        using var call = echo.Client.Repeat(new EchoRequest { Text = "throw:" + kind, Count = 1 });
        var streamError = await Assert.ThrowsAsync<RpcException>(async () => { await foreach (var _ in call.ResponseStream.ReadAllAsync()) { } });
        Assert.Equal((code, detail), Of(streamError));
    }

    [Fact]
    public async Task Unreachable_server_is_unavailable()
    {
        int port;
        using (var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        using var channel = GrpcChannels.Create($"http://127.0.0.1:{port}");
        var error = await Assert.ThrowsAsync<RpcException>(async () => await new Echo.Echo.EchoClient(channel).SayAsync(new EchoRequest()));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
    }

    [Fact]
    public async Task Tls_round_trip_with_a_self_signed_certificate()
    {
        await using var echo = await EchoServer.StartAsync(o => o.Certificate = TestCertificate.Server, TestCertificate.IsOurs);
        Assert.Equal("https", echo.Address.Scheme);
        Assert.Equal("secret", (await echo.Client.SayAsync(new EchoRequest { Text = "secret" })).Text);

        // Without trusting the certificate the handshake fails.
        using var untrusting = GrpcChannels.Create(echo.Address);
        var error = await Assert.ThrowsAsync<RpcException>(async () => await new Echo.Echo.EchoClient(untrusting).SayAsync(new EchoRequest()));
        Assert.Contains("The SSL connection could not be established", error.Status.Detail);
    }

    [Fact]
    public async Task Tls_round_trip_from_python()
    {
        await using var echo = await EchoServer.StartAsync(o => o.Certificate = TestCertificate.Server);
        var pem = Path.Combine(AppContext.BaseDirectory, "python", "server-cert.pem");
        await File.WriteAllTextAsync(pem, TestCertificate.Server.ExportCertificatePem());
        var result = await PythonPeer.RunClientAsync($"localhost:{echo.Port}", "tls", pem, "over tls");
        Assert.Equal("over tls", result.GetProperty("text").GetString());
    }

    // Hand-made HTTP/2 requests: what a client that is not grpc-dotnet meets.

    private static byte[] Frame(IMessage message)
    {
        var bytes = message.ToByteArray();
        var frame = new byte[5 + bytes.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)bytes.Length);
        bytes.CopyTo(frame, 5);
        return frame;
    }

    private static async Task<(HttpResponseMessage Response, byte[] Body)> PostAsync(EchoServer echo, byte[] body, string contentType = "application/grpc",
        params (string Name, string Value)[] headers)
    {
        using var client = new HttpClient(new SocketsHttpHandler());
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(echo.Address, "/sd3mesh.rpc.test.Echo/Say"))
        {
            Content = new ByteArrayContent(body),
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        request.Headers.TryAddWithoutValidation("te", "trailers");
        foreach (var (name, value) in headers) request.Headers.TryAddWithoutValidation(name, value);
        var response = await client.SendAsync(request);
        return (response, await response.Content.ReadAsByteArrayAsync());
    }

    private static int GrpcStatusOf(HttpResponseMessage response) => int.Parse(
        (response.TrailingHeaders.NonValidated.Contains("grpc-status") ? response.TrailingHeaders.NonValidated : response.Headers.NonValidated)["grpc-status"].ToString());

    [Fact]
    public async Task The_server_enforces_grpc_timeout_without_help_from_the_client()
    {
        await using var echo = await EchoServer.StartAsync();
        var started = DateTime.UtcNow;
        // The client sets no local deadline: only the server's timer can end this call.
        var (response, _) = await PostAsync(echo, Frame(new EchoRequest { DelayMs = 10_000 }), headers: ("grpc-timeout", "200m"));
        Assert.Equal((int)StatusCode.DeadlineExceeded, GrpcStatusOf(response));
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(150), TimeSpan.FromSeconds(5));
        await echo.Echo.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Responses_are_gzip_compressed_only_for_clients_that_accept_it()
    {
        await using var echo = await EchoServer.StartAsync(o => o.ResponseCompression = "gzip");
        var text = string.Concat(Enumerable.Repeat("squeeze me ", 1000));
        var (response, body) = await PostAsync(echo, Frame(new EchoRequest { Text = text }), headers: ("grpc-accept-encoding", "identity,gzip"));
        Assert.Equal("gzip", response.Headers.NonValidated["grpc-encoding"].ToString());
        Assert.Equal(1, body[0]);
        int length = (int)BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(1));
        Assert.Equal(body.Length - 5, length);
        Assert.True(length < text.Length / 10, $"compressed to {length} bytes");
        using var inflate = new GZipStream(new MemoryStream(body, 5, length), CompressionMode.Decompress);
        Assert.Equal(text, EchoReply.Parser.ParseFrom(inflate).Text);
        Assert.Equal((int)StatusCode.OK, GrpcStatusOf(response));

        var (plain, plainBody) = await PostAsync(echo, Frame(new EchoRequest { Text = "plain" }));
        Assert.False(plain.Headers.NonValidated.Contains("grpc-encoding"));
        Assert.Equal(0, plainBody[0]);
        Assert.Equal("plain", EchoReply.Parser.ParseFrom(plainBody.AsSpan(5).ToArray()).Text);
    }

    [Fact]
    public async Task A_request_that_is_not_grpc_is_refused()
    {
        await using var echo = await EchoServer.StartAsync();
        var (response, _) = await PostAsync(echo, Frame(new EchoRequest()), contentType: "application/json");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }
}
