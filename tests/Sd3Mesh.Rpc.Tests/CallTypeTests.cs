using Google.Protobuf;
using Sd3Mesh.Rpc.Benchmark;
using Sd3Mesh.Rpc.Tests.Echo;

namespace Sd3Mesh.Rpc.Tests;

/// <summary>Our client calling our server: every call type and how calls end.</summary>
public class CallTypeTests
{
    [Fact]
    public async Task Unary()
    {
        await using var echo = await EchoServer.StartAsync();
        using var call = echo.Channel.Unary(EchoMethods.Say, new EchoRequest { Text = "héllo", Payload = ByteString.CopyFrom(1, 2, 3) });
        var reply = await call;
        Assert.Equal("héllo", reply.Text);
        Assert.Equal(new byte[] { 1, 2, 3 }, reply.Payload.ToByteArray());
        Assert.Equal(Status.Ok, call.GetStatus());
    }

    [Fact]
    public async Task Unary_with_a_method_descriptor()
    {
        await using var echo = await EchoServer.StartAsync();
        var reply = await echo.Channel.UnaryAsync<EchoRequest, EchoReply>(EchoService.Method("Say"), new EchoRequest { Text = "d" });
        Assert.Equal("d", reply.Text);
    }

    [Fact]
    public async Task Server_streaming()
    {
        await using var echo = await EchoServer.StartAsync();
        using var call = echo.Channel.ServerStreaming(EchoMethods.Repeat, new EchoRequest { Text = "r", Count = 4 });
        var replies = new List<(int, string)>();
        await foreach (var reply in call.ResponseStream) replies.Add((reply.Index, reply.Text));
        Assert.Equal([(0, "r"), (1, "r"), (2, "r"), (3, "r")], replies);
    }

    [Fact]
    public async Task Server_streaming_error_after_some_messages()
    {
        await using var echo = await EchoServer.StartAsync();
        using var call = echo.Channel.ServerStreaming(EchoMethods.Repeat,
            new EchoRequest { Count = 2, FailCode = (int)StatusCode.Aborted, FailMessage = "stopped" });
        int received = 0;
        var error = await Assert.ThrowsAsync<RpcException>(async () => { await foreach (var _ in call.ResponseStream) received++; });
        Assert.Equal((2, new Status(StatusCode.Aborted, "stopped")), (received, error.Status));
    }

    [Fact]
    public async Task Client_streaming()
    {
        await using var echo = await EchoServer.StartAsync();
        using var call = echo.Channel.ClientStreaming(EchoMethods.Collect);
        foreach (var text in new[] { "a", "b", "c", "d" })
            await call.RequestStream.WriteAsync(new EchoRequest { Text = text, Payload = ByteString.CopyFromUtf8(text) });
        await call.RequestStream.CompleteAsync();
        var reply = await call.ResponseAsync;
        Assert.Equal(("a,b,c,d", 4, "abcd"), (reply.Text, reply.Index, reply.Payload.ToStringUtf8()));
    }

    [Fact]
    public async Task Client_streaming_server_error_surfaces_in_writes_and_response()
    {
        await using var echo = await EchoServer.StartAsync();
        using var call = echo.Channel.ClientStreaming(EchoMethods.Collect);
        await call.RequestStream.WriteAsync(new EchoRequest { Text = "a", FailCode = (int)StatusCode.InvalidArgument, FailMessage = "bad a" });
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.Equal(new Status(StatusCode.InvalidArgument, "bad a"), error.Status);
        var writeError = await Assert.ThrowsAsync<RpcException>(() => call.RequestStream.WriteAsync(new EchoRequest { Text = "b" }));
        Assert.Equal(StatusCode.InvalidArgument, writeError.StatusCode);
    }

    [Fact]
    public async Task Duplex_ping_pong()
    {
        await using var echo = await EchoServer.StartAsync();
        using var call = echo.Channel.DuplexStreaming(EchoMethods.Chat);
        await using var replies = call.ResponseStream.GetAsyncEnumerator();
        for (int i = 0; i < 5; i++)
        {
            await call.RequestStream.WriteAsync(new EchoRequest { Text = $"m{i}" });
            Assert.True(await replies.MoveNextAsync());
            Assert.Equal(($"m{i}", i), (replies.Current.Text, replies.Current.Index));
        }
        await call.RequestStream.CompleteAsync();
        Assert.False(await replies.MoveNextAsync());
        Assert.Equal(StatusCode.OK, call.GetStatus().Code);
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
        var reply = await echo.Channel.UnaryAsync(EchoMethods.Say, new EchoRequest { Payload = UnsafeByteOperations.UnsafeWrap(big) });
        Assert.Equal(-1, BytePattern.FindMismatch(reply.Payload.Span, 0));
        Assert.Equal(big.Length, reply.Payload.Length);

        var upload = Method<Payload, UploadSummary>.From(RpcBenchmarkService.Descriptor.FindMethodByName("Upload"));
        using var call = echo.Channel.ClientStreaming(upload);
        var frame = new Payload { Data = ByteString.CopyFrom(new byte[1024 * 1024]) };
        for (int i = 0; i < 32; i++) await call.RequestStream.WriteAsync(frame);
        await call.RequestStream.CompleteAsync();
        var summary = await call.ResponseAsync;
        Assert.Equal((32UL * 1024 * 1024, 32UL), (summary.TotalBytes, summary.Frames));
    }

    [Fact]
    public async Task Deadline_fails_the_call_locally_and_fires_the_handler_token()
    {
        await using var echo = await EchoServer.StartAsync();
        var started = DateTime.UtcNow;
        var error = await Assert.ThrowsAsync<RpcException>(() => echo.Channel.UnaryAsync(EchoMethods.Say,
            new EchoRequest { DelayMs = 10_000 }, CallOptions.WithTimeout(TimeSpan.FromMilliseconds(200))));
        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(150), TimeSpan.FromSeconds(5));
        Assert.Equal("/sd3mesh.rpc.test.Echo/Say", await echo.Echo.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Deadline_already_past_fails_at_once()
    {
        await using var echo = await EchoServer.StartAsync();
        var error = await Assert.ThrowsAsync<RpcException>(() => echo.Channel.UnaryAsync(EchoMethods.Say,
            new EchoRequest(), new CallOptions { Deadline = DateTime.UtcNow.AddSeconds(-1) }));
        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
    }

    [Fact]
    public async Task Cancelling_mid_stream_fires_the_handler_token()
    {
        await using var echo = await EchoServer.StartAsync();
        using var cts = new CancellationTokenSource();
        using var call = echo.Channel.ServerStreaming(EchoMethods.Repeat, new EchoRequest { Count = 100_000, DelayMs = 10 },
            new CallOptions { CancellationToken = cts.Token });
        int received = 0;
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var _ in call.ResponseStream)
                if (++received == 3) cts.Cancel();
        });
        Assert.Equal((StatusCode.Cancelled, 3), (error.StatusCode, received));
        Assert.Equal("/sd3mesh.rpc.test.Echo/Repeat", await echo.Echo.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task A_call_that_ended_lets_go_of_the_callers_token()
    {
        await using var echo = await EchoServer.StartAsync();
        using var handler = new RecordingHandler();
        using var channel = new GrpcChannel(echo.Address, new GrpcChannelOptions { HttpHandler = handler });
        using var lifetime = new CancellationTokenSource(); // a caller's long-lived token, shared by many calls
        var options = new CallOptions { CancellationToken = lifetime.Token };
        Assert.Equal("ok", (await channel.UnaryAsync(EchoMethods.Say, new EchoRequest { Text = "ok" }, options)).Text);
        var failed = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(EchoMethods.Say,
            new EchoRequest { FailCode = (int)StatusCode.Aborted }, options));
        Assert.Equal(StatusCode.Aborted, failed.StatusCode);

        // Cancelling the caller's token later must not reach (or keep alive) the calls that are over.
        int reached = 0;
        var registrations = handler.Tokens.Select(token => token.Register(() => Interlocked.Increment(ref reached))).ToList();
        Assert.Equal(2, registrations.Count);
        lifetime.Cancel();
        Assert.Equal(0, reached);
        registrations.ForEach(r => r.Dispose());
    }

    /// <summary>Records the token each HTTP request is sent with (the call's own token).</summary>
    private sealed class RecordingHandler() : DelegatingHandler(new SocketsHttpHandler())
    {
        public System.Collections.Concurrent.ConcurrentQueue<CancellationToken> Tokens { get; } = new();

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Tokens.Enqueue(cancellationToken);
            return base.SendAsync(request, cancellationToken);
        }
    }

    [Fact]
    public async Task Disposing_a_duplex_call_cancels_it_on_the_server()
    {
        await using var echo = await EchoServer.StartAsync();
        var call = echo.Channel.DuplexStreaming(EchoMethods.Chat);
        await call.RequestStream.WriteAsync(new EchoRequest { DelayMs = 10_000 });
        await echo.Echo.Started.Task.WaitAsync(TimeSpan.FromSeconds(5));
        call.Dispose();
        Assert.Equal("/sd3mesh.rpc.test.Echo/Chat", await echo.Echo.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(StatusCode.Cancelled, call.GetStatus().Code);
    }

    [Fact]
    public async Task Oversize_messages_both_ways_are_resource_exhausted()
    {
        await using var echo = await EchoServer.StartAsync(new GrpcServerOptions { MaxReceiveMessageSize = 64 * 1024, MaxSendMessageSize = 64 * 1024 });
        var tooBig = new EchoRequest { Payload = ByteString.CopyFrom(new byte[100 * 1024]) };
        var received = await Assert.ThrowsAsync<RpcException>(() => echo.Channel.UnaryAsync(EchoMethods.Say, tooBig));
        Assert.Equal(StatusCode.ResourceExhausted, received.StatusCode);
        Assert.Equal("received message of 102404 bytes exceeds the limit of 65536 bytes", received.Status.Detail);

        // 60 KiB in, but 3 x 60 KiB out through Collect's concatenation: the server refuses to send it.
        using var call = echo.Channel.ClientStreaming(EchoMethods.Collect);
        for (int i = 0; i < 3; i++) await call.RequestStream.WriteAsync(new EchoRequest { Payload = ByteString.CopyFrom(new byte[60 * 1024]) });
        await call.RequestStream.CompleteAsync();
        var sent = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, sent.StatusCode);
        Assert.StartsWith("message of 184", sent.Status.Detail);
    }

    [Fact]
    public async Task Gzip_request_messages()
    {
        await using var echo = await EchoServer.StartAsync(new GrpcServerOptions { ResponseCompression = "gzip" });
        var payload = ByteString.CopyFromUtf8(string.Concat(Enumerable.Repeat("zip ", 50_000)));
        var reply = await echo.Channel.UnaryAsync(EchoMethods.Say, new EchoRequest { Payload = payload }, new CallOptions { Compression = "gzip" });
        Assert.Equal(payload, reply.Payload);
        Assert.True(echo.Echo.RequestEncodings.TryDequeue(out var encoding));
        Assert.Equal("gzip", encoding);
    }

    [Fact]
    public async Task Metadata_both_ways_with_reserved_headers_filtered()
    {
        await using var echo = await EchoServer.StartAsync();
        var headers = new Metadata()
            .Add("x-text", "value")
            .Add("x-blob-bin", [0, 0xff])
            .Add("grpc-custom", "must not be sent")
            .Add("content-type", "text/plain");
        using var call = echo.Channel.Unary(EchoMethods.Say, new EchoRequest(), new CallOptions { Headers = headers });
        await call;
        var responseHeaders = await call.ResponseHeadersAsync;
        Assert.Equal(["x-text", "x-blob-bin"], responseHeaders.Select(e => e.Key));
        Assert.Equal(new byte[] { 0, 0xff }, responseHeaders.GetValueBytes("x-blob-bin"));
        Assert.Equal(["x-text", "x-blob-bin"], call.GetTrailers().Select(e => e.Key));
    }

    [Fact]
    public async Task Rich_error_details_travel_in_grpc_status_details_bin()
    {
        var server = new GrpcServer();
        server.MapUnary<EchoRequest, EchoReply>(EchoService.Method("Say"), (request, context) =>
            throw RpcException.WithDetails(new Google.Rpc.Status
            {
                Code = (int)StatusCode.InvalidArgument,
                Message = "width must be a multiple of 16",
                Details = { Google.Protobuf.WellKnownTypes.Any.Pack(new Google.Protobuf.WellKnownTypes.StringValue { Value = "width" }) },
            }));
        await server.StartAsync();
        await using var _ = server;
        using var channel = new GrpcChannel(server.Address);
        var error = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(EchoMethods.Say, new EchoRequest()));
        Assert.Equal(new Status(StatusCode.InvalidArgument, "width must be a multiple of 16"), error.Status);
        var rich = error.GetRichStatus();
        Assert.NotNull(rich);
        Assert.Equal("width", rich.Details[0].Unpack<Google.Protobuf.WellKnownTypes.StringValue>().Value);
    }

    [Theory]
    [InlineData("argument", StatusCode.InvalidArgument, "steps must be 1 .. 1000")]
    [InlineData("missing", StatusCode.NotFound, "no job 42")]
    [InlineData("unsupported", StatusCode.Unimplemented, "no such thing")]
    [InlineData("bug", StatusCode.Internal, "internal error (NullReferenceException); details are in the server log")]
    public async Task Handler_exceptions_map_to_status_codes(string kind, StatusCode code, string detail)
    {
        var server = new GrpcServer();
        server.MapUnary<EchoRequest, EchoReply>(EchoService.Method("Say"), (request, context) => kind switch
        {
            "argument" => throw new ArgumentException("steps must be 1 .. 1000"),
            "missing" => throw new KeyNotFoundException("no job 42"),
            "unsupported" => throw new NotSupportedException("no such thing"),
            _ => throw new NullReferenceException("secret internals"),
        });
        await server.StartAsync();
        await using var _ = server;
        using var channel = new GrpcChannel(server.Address);
        var error = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(EchoMethods.Say, new EchoRequest()));
        Assert.Equal(new Status(code, detail), error.Status);
    }

    [Fact]
    public async Task Unimplemented_method_of_a_bound_service()
    {
        var server = new GrpcServer();
        server.MapService(EchoService.Descriptor, new OnlySay());
        await server.StartAsync();
        await using var _ = server;
        using var channel = new GrpcChannel(server.Address);
        Assert.Equal("s", (await channel.UnaryAsync(EchoMethods.Say, new EchoRequest { Text = "s" })).Text);
        var error = await Assert.ThrowsAsync<RpcException>(() => channel.ServerStreaming(EchoMethods.Repeat, new EchoRequest())
            .ResponseStream.GetAsyncEnumerator().MoveNextAsync().AsTask());
        Assert.Equal(new Status(StatusCode.Unimplemented, "/sd3mesh.rpc.test.Echo/Repeat is not implemented by OnlySay"), error.Status);
    }

    private sealed class OnlySay
    {
        public Task<EchoReply> Say(EchoRequest request, ServerCallContext context) => Task.FromResult(new EchoReply { Text = request.Text });
    }

    private sealed class WrongShape
    {
        public Task<EchoReply> Say(EchoRequest request) => Task.FromResult(new EchoReply());
    }

    [Fact]
    public void A_method_the_service_does_not_have_is_named_in_the_error()
    {
        var error = Assert.Throws<ArgumentException>(() => Method<EchoRequest, EchoReply>.From(EchoService.Descriptor, "Shout"));
        Assert.StartsWith("service sd3mesh.rpc.test.Echo has no method Shout", error.Message);
    }

    [Fact]
    public void A_method_of_the_wrong_shape_is_refused_at_bind_time()
    {
        var server = new GrpcServer();
        var error = Assert.Throws<ArgumentException>(() => server.MapService(EchoService.Descriptor, new WrongShape()));
        Assert.Contains("expected Task<EchoReply> Say(EchoRequest request, ServerCallContext context)", error.Message);
    }

    [Fact]
    public async Task Unreachable_server_is_unavailable()
    {
        int port;
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
        var error = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(EchoMethods.Say, new EchoRequest()));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
    }

    [Fact]
    public async Task Tls_round_trip_with_a_self_signed_certificate()
    {
        await using var echo = await EchoServer.StartAsync(new GrpcServerOptions { Certificate = TestCertificate.Server },
            new GrpcChannelOptions { ServerCertificateValidation = TestCertificate.IsOurs });
        Assert.Equal("https", echo.Address.Scheme);
        Assert.Equal("secret", (await echo.Channel.UnaryAsync(EchoMethods.Say, new EchoRequest { Text = "secret" })).Text);

        // Without trusting the certificate the handshake fails.
        using var untrusting = new GrpcChannel(echo.Address);
        var error = await Assert.ThrowsAsync<RpcException>(() => untrusting.UnaryAsync(EchoMethods.Say, new EchoRequest()));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
    }

    [Fact]
    public async Task Tls_round_trip_from_python()
    {
        await using var echo = await EchoServer.StartAsync(new GrpcServerOptions { Certificate = TestCertificate.Server });
        var pem = Path.Combine(AppContext.BaseDirectory, "python", "server-cert.pem");
        await File.WriteAllTextAsync(pem, TestCertificate.Server.ExportCertificatePem());
        var result = await PythonPeer.RunClientAsync($"localhost:{echo.Server.Port}", "tls", pem, "over tls");
        Assert.Equal("over tls", result.GetProperty("text").GetString());
    }
}
