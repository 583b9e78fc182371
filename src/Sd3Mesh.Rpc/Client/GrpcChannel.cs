using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Sd3Mesh.Rpc;

/// <summary>
/// A client connection to one gRPC server (http:// for cleartext HTTP/2 with prior knowledge,
/// https:// for TLS), and the typed calls on it, driven by protoc's method descriptors:
/// <code>
/// using var channel = GrpcChannel.ForAddress("http://127.0.0.1:50051");
/// var reply = await channel.UnaryAsync(method, request, CallOptions.WithTimeout(TimeSpan.FromSeconds(5)));
/// await foreach (var e in channel.ServerStreaming(generate, request).ResponseStream) ...
/// </code>
/// Calls are safe to run concurrently; each is one HTTP/2 stream.
/// </summary>
public sealed class GrpcChannel : IDisposable
{
    internal const string UserAgent = "grpc-csharp-sd3mesh/1.0";

    private readonly bool _ownsHandler;

    public GrpcChannel(Uri address, GrpcChannelOptions? options = null)
    {
        if (address.Scheme is not ("http" or "https"))
            throw new ArgumentException($"gRPC address '{address}' must be http://HOST:PORT or https://HOST:PORT", nameof(address));
        Address = address;
        Options = options ?? new GrpcChannelOptions();
        _ownsHandler = Options.HttpHandler is null;
        Invoker = new HttpMessageInvoker(Options.HttpHandler ?? CreateHandler(Options), _ownsHandler);
    }

    public static GrpcChannel ForAddress(string address, GrpcChannelOptions? options = null)
    {
        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri))
            throw new ArgumentException($"gRPC address '{address}' is not a URL like http://127.0.0.1:50051", nameof(address));
        return new GrpcChannel(uri, options);
    }

    public Uri Address { get; }
    public GrpcChannelOptions Options { get; }
    internal HttpMessageInvoker Invoker { get; }

    private static SocketsHttpHandler CreateHandler(GrpcChannelOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = options.EnableMultipleHttp2Connections,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            ConnectTimeout = TimeSpan.FromSeconds(20),
            UseCookies = false,
            UseProxy = false,
        };
        if (options.InitialStreamWindowSize is { } window) handler.InitialHttp2StreamWindowSize = window;
        if (options.ServerCertificateValidation is { } validate)
            handler.SslOptions.RemoteCertificateValidationCallback = validate;
        return handler;
    }

    // --- unary -----------------------------------------------------------------------------------

    public UnaryCall<TResponse> Unary<TRequest, TResponse>(Method<TRequest, TResponse> method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        var call = Open(method, MethodType.Unary, options);
        call.Start(request);
        return new UnaryCall<TResponse>(ReadSingleAsync(call), call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
    }

    /// <summary>A unary call; throws RpcException unless it ends OK.</summary>
    public Task<TResponse> UnaryAsync<TRequest, TResponse>(Method<TRequest, TResponse> method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> =>
        Unary(method, request, options).ResponseAsync;

    public Task<TResponse> UnaryAsync<TRequest, TResponse>(MethodDescriptor method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> =>
        UnaryAsync(Method<TRequest, TResponse>.From(method), request, options);

    // --- server streaming ------------------------------------------------------------------------

    public ServerStreamingCall<TResponse> ServerStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        var call = Open(method, MethodType.ServerStreaming, options);
        call.Start(request);
        return new ServerStreamingCall<TResponse>(new ClientResponseStream<TRequest, TResponse>(call),
            call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
    }

    public ServerStreamingCall<TResponse> ServerStreaming<TRequest, TResponse>(MethodDescriptor method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> =>
        ServerStreaming(Method<TRequest, TResponse>.From(method), request, options);

    // --- client streaming ------------------------------------------------------------------------

    public ClientStreamingCall<TRequest, TResponse> ClientStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, CallOptions options = default)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        var call = Open(method, MethodType.ClientStreaming, options);
        call.StartStreaming();
        return new ClientStreamingCall<TRequest, TResponse>(new ClientRequestStream<TRequest, TResponse>(call), ReadSingleAsync(call),
            call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
    }

    // --- duplex streaming ------------------------------------------------------------------------

    public DuplexStreamingCall<TRequest, TResponse> DuplexStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, CallOptions options = default)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        var call = Open(method, MethodType.DuplexStreaming, options);
        call.StartStreaming();
        return new DuplexStreamingCall<TRequest, TResponse>(new ClientRequestStream<TRequest, TResponse>(call),
            new ClientResponseStream<TRequest, TResponse>(call), call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
    }

    private GrpcCall<TRequest, TResponse> Open<TRequest, TResponse>(Method<TRequest, TResponse> method, MethodType expected, CallOptions options)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        if (method.Type != expected)
            throw new ArgumentException($"{method.Path} is a {method.Type} method, not {expected}", nameof(method));
        return new GrpcCall<TRequest, TResponse>(this, method, options);
    }

    /// <summary>Exactly one response message and an OK status.</summary>
    private static async Task<TResponse> ReadSingleAsync<TRequest, TResponse>(GrpcCall<TRequest, TResponse> call)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        var response = await call.ReadNextAsync(CancellationToken.None).ConfigureAwait(false);
        if (response is null)
            throw new RpcException(StatusCode.Internal, "the call ended OK without a response message");
        if (await call.ReadNextAsync(CancellationToken.None).ConfigureAwait(false) is not null)
        {
            call.Dispose();
            throw new RpcException(StatusCode.Internal, "more than one response message for a single-response method");
        }
        return response;
    }

    public void Dispose() => Invoker.Dispose();
}
