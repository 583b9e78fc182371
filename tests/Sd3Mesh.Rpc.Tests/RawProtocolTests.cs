using System.Buffers.Binary;
using System.IO.Compression;
using System.Net;
using Google.Protobuf;
using Sd3Mesh.Rpc.Tests.Echo;

namespace Sd3Mesh.Rpc.Tests;

/// <summary>Hand-made HTTP/2 requests: what our server answers to malformed or unusual input, byte for byte.</summary>
public class RawProtocolTests
{
    private static HttpClient RawClient() => new(new SocketsHttpHandler());

    private static byte[] Frame(IMessage message, byte flag = 0)
    {
        var bytes = message.ToByteArray();
        var frame = new byte[5 + bytes.Length];
        frame[0] = flag;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)bytes.Length);
        bytes.CopyTo(frame, 5);
        return frame;
    }

    private static async Task<(HttpResponseMessage Response, byte[] Body)> PostAsync(EchoServer echo, string path, byte[] body,
        string contentType = "application/grpc", params (string Name, string Value)[] headers)
    {
        using var client = RawClient();
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(echo.Address, path)) 
        {
            Content = new ByteArrayContent(body),
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        request.Headers.TryAddWithoutValidation("te", "trailers");
        foreach (var (name, value) in headers) request.Headers.TryAddWithoutValidation(name, value);
        var response = await client.SendAsync(request);
        var data = await response.Content.ReadAsByteArrayAsync();
        return (response, data);
    }

    /// <summary>grpc-status and grpc-message, from the trailers or (trailers-only) the headers.</summary>
    private static (int Code, string Message) StatusOf(HttpResponseMessage response)
    {
        var source = response.TrailingHeaders.NonValidated.Contains("grpc-status") ? (System.Net.Http.Headers.HttpHeaders)response.TrailingHeaders : response.Headers;
        var code = int.Parse(source.NonValidated["grpc-status"].ToString());
        var message = source.NonValidated.TryGetValues("grpc-message", out var m) ? PercentEncoding.Decode(m.ToString()) : "";
        return (code, message);
    }

    private static async Task AssertStillServing(EchoServer echo) =>
        Assert.Equal("alive", (await echo.Channel.UnaryAsync(EchoMethods.Say, new EchoRequest { Text = "alive" })).Text);

    [Fact]
    public async Task Length_beyond_the_body_is_internal_and_the_server_keeps_serving()
    {
        await using var echo = await EchoServer.StartAsync();
        var frame = Frame(new EchoRequest { Text = "hello" });
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), 1000);
        var (response, _) = await PostAsync(echo, "/sd3mesh.rpc.test.Echo/Say", frame);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (code, message) = StatusOf(response);
        Assert.Equal((int)StatusCode.Internal, code);
        Assert.Equal("incomplete message: its prefix announces 1000 bytes, the stream ended after 7", message);
        await AssertStillServing(echo);
    }

    [Fact]
    public async Task Bad_compressed_flag_is_internal()
    {
        await using var echo = await EchoServer.StartAsync();
        var (response, _) = await PostAsync(echo, "/sd3mesh.rpc.test.Echo/Say", Frame(new EchoRequest { Text = "x" }, flag: 7));
        Assert.Equal(((int)StatusCode.Internal, "invalid compressed flag 7 in a message prefix (must be 0 or 1)"), StatusOf(response));
        await AssertStillServing(echo);
    }

    [Fact]
    public async Task Compressed_flag_without_grpc_encoding_is_internal()
    {
        await using var echo = await EchoServer.StartAsync();
        var (response, _) = await PostAsync(echo, "/sd3mesh.rpc.test.Echo/Say", Frame(new EchoRequest { Text = "x" }, flag: 1));
        Assert.Equal(((int)StatusCode.Internal, "a message is marked compressed but the stream has no grpc-encoding"), StatusOf(response));
    }

    [Fact]
    public async Task Truncated_prefix_is_internal()
    {
        await using var echo = await EchoServer.StartAsync();
        var (response, _) = await PostAsync(echo, "/sd3mesh.rpc.test.Echo/Say", [0, 0, 0]);
        Assert.Equal(((int)StatusCode.Internal, "incomplete message prefix: the stream ended after 3 of 5 bytes"), StatusOf(response));
        await AssertStillServing(echo);
    }

    [Fact]
    public async Task Empty_body_for_a_unary_call_is_internal()
    {
        await using var echo = await EchoServer.StartAsync();
        var (response, _) = await PostAsync(echo, "/sd3mesh.rpc.test.Echo/Say", []);
        Assert.Equal(((int)StatusCode.Internal, "the request stream ended without a message"), StatusOf(response));
    }

    [Fact]
    public async Task Garbage_payload_is_internal()
    {
        await using var echo = await EchoServer.StartAsync();
        byte[] frame = [0, 0, 0, 0, 3, 0xff, 0xff, 0xff];
        var (response, _) = await PostAsync(echo, "/sd3mesh.rpc.test.Echo/Say", frame);
        var (code, message) = StatusOf(response);
        Assert.Equal((int)StatusCode.Internal, code);
        Assert.StartsWith("failed to parse a EchoRequest message of 3 bytes", message);
        await AssertStillServing(echo);
    }

    [Fact]
    public async Task Unknown_encoding_is_unimplemented_and_lists_what_is_supported()
    {
        await using var echo = await EchoServer.StartAsync();
        var (response, _) = await PostAsync(echo, "/sd3mesh.rpc.test.Echo/Say", Frame(new EchoRequest()), headers: ("grpc-encoding", "snappy"));
        Assert.Equal((int)StatusCode.Unimplemented, StatusOf(response).Code);
        Assert.Equal("identity,gzip,deflate", response.Headers.NonValidated["grpc-accept-encoding"].ToString());
    }

    [Fact]
    public async Task Unknown_service_is_a_trailers_only_unimplemented()
    {
        await using var echo = await EchoServer.StartAsync();
        var (response, body) = await PostAsync(echo, "/no.Such/Method", Frame(new EchoRequest()));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(body);
        Assert.True(response.Headers.NonValidated.Contains("grpc-status")); // in the headers: trailers-only
        Assert.Equal(((int)StatusCode.Unimplemented, "unknown service no.Such"), StatusOf(response));
    }

    [Fact]
    public async Task Non_grpc_content_type_is_415()
    {
        await using var echo = await EchoServer.StartAsync();
        var (response, _) = await PostAsync(echo, "/sd3mesh.rpc.test.Echo/Say", Frame(new EchoRequest()), contentType: "application/json");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }

    [Fact]
    public async Task Another_grpc_payload_format_is_a_grpc_error_not_415()
    {
        await using var echo = await EchoServer.StartAsync();
        var (response, body) = await PostAsync(echo, "/sd3mesh.rpc.test.Echo/Say", Frame(new EchoRequest()), contentType: "application/grpc+json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(body);
        Assert.True(response.Headers.NonValidated.Contains("grpc-status")); // trailers-only
        Assert.Equal(((int)StatusCode.Internal,
            "content-type 'application/grpc+json' is not supported: this server speaks protobuf (application/grpc or application/grpc+proto)"), StatusOf(response));
        var (grpcWeb, _) = await PostAsync(echo, "/sd3mesh.rpc.test.Echo/Say", Frame(new EchoRequest()), contentType: "application/grpc-web");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, grpcWeb.StatusCode);
    }

    [Fact]
    public async Task Server_enforces_grpc_timeout_without_help_from_the_client()
    {
        await using var echo = await EchoServer.StartAsync();
        var started = DateTime.UtcNow;
        // The client sets no local deadline: only the server's timer can end this call.
        var (response, body) = await PostAsync(echo, "/sd3mesh.rpc.test.Echo/Say", Frame(new EchoRequest { DelayMs = 10_000 }),
            headers: ("grpc-timeout", "200m"));
        Assert.Equal(((int)StatusCode.DeadlineExceeded, "deadline exceeded"), StatusOf(response));
        Assert.Empty(body);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(150), TimeSpan.FromSeconds(5));
        await echo.Echo.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    public async Task Responses_are_compressed_when_the_client_accepts_it(string encoding)
    {
        await using var echo = await EchoServer.StartAsync(new GrpcServerOptions { ResponseCompression = encoding });
        var text = string.Concat(Enumerable.Repeat("squeeze me ", 1000));
        var (response, body) = await PostAsync(echo, "/sd3mesh.rpc.test.Echo/Say", Frame(new EchoRequest { Text = text }),
            headers: ("grpc-accept-encoding", "identity," + encoding));
        Assert.Equal(encoding, response.Headers.NonValidated["grpc-encoding"].ToString());
        Assert.Equal(1, body[0]);
        int length = (int)BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(1));
        Assert.Equal(body.Length - 5, length);
        Assert.True(length < text.Length / 10, $"compressed to {length} bytes");
        using Stream inflate = encoding == "gzip"
            ? new GZipStream(new MemoryStream(body, 5, length), CompressionMode.Decompress)
            : new ZLibStream(new MemoryStream(body, 5, length), CompressionMode.Decompress);
        Assert.Equal(text, EchoReply.Parser.ParseFrom(inflate).Text);
        Assert.Equal(((int)StatusCode.OK, ""), StatusOf(response));
    }

    [Fact]
    public async Task Responses_are_not_compressed_for_a_client_that_does_not_accept_it()
    {
        await using var echo = await EchoServer.StartAsync(new GrpcServerOptions { ResponseCompression = "gzip" });
        var (response, body) = await PostAsync(echo, "/sd3mesh.rpc.test.Echo/Say", Frame(new EchoRequest { Text = "plain" }));
        Assert.False(response.Headers.NonValidated.Contains("grpc-encoding"));
        Assert.Equal(0, body[0]);
        Assert.Equal("plain", EchoReply.Parser.ParseFrom(body.AsSpan(5).ToArray()).Text);
    }

    [Fact]
    public async Task Binary_metadata_is_accepted_with_and_without_padding_and_sent_without()
    {
        await using var echo = await EchoServer.StartAsync();
        var (response, _) = await PostAsync(echo, "/sd3mesh.rpc.test.Echo/Say", Frame(new EchoRequest()),
            headers: [("x-padded-bin", "AAH+/w=="), ("x-unpadded-bin", "AAH+/w"), ("x-two-bin", "YQ,Yg==")]);
        Assert.Equal((int)StatusCode.OK, StatusOf(response).Code);
        // Echoed back in the trailers: decoded, then re-encoded without padding.
        Assert.Equal("AAH+/w", response.TrailingHeaders.NonValidated["x-padded-bin"].ToString());
        Assert.Equal("AAH+/w", response.TrailingHeaders.NonValidated["x-unpadded-bin"].ToString());
        Assert.Equal(["YQ", "Yg"], response.TrailingHeaders.NonValidated["x-two-bin"]);
    }
}
