using System.Net;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Sd3Mesh.Rpc.Health;
using Sd3Mesh.Rpc.Reflection;

namespace Sd3Mesh.Rpc;

/// <summary>
/// A gRPC server on Kestrel: map services (bound from protoc descriptors), start, stop gracefully.
/// <code>
/// await using var server = new GrpcServer(new GrpcServerOptions { Listen = "127.0.0.1:50051" });
/// server.MapService(GenerationReflection.Descriptor.FindTypeByName&lt;ServiceDescriptor&gt;("Generation"), impl);
/// server.MapHealth(); server.MapReflection();
/// await server.StartAsync();
/// </code>
/// </summary>
public sealed class GrpcServer : IAsyncDisposable
{
    private readonly GrpcDispatcher _dispatcher;
    private WebApplication? _app;
    private HealthService? _health;
    private bool _stopped;

    public GrpcServer(GrpcServerOptions? options = null)
    {
        Options = options ?? new GrpcServerOptions();
        _dispatcher = new GrpcDispatcher(Options);
    }

    public GrpcServerOptions Options { get; }
    public GrpcDispatcher Dispatcher => _dispatcher;
    public IReadOnlyList<ServiceDescriptor> Services => _dispatcher.Services;

    /// <summary>The address clients use, e.g. http://127.0.0.1:50051 (after StartAsync).</summary>
    public Uri Address { get; private set; } = null!;
    public int Port => Address.Port;

    /// <summary>Binds every method of <paramref name="service"/> to <paramref name="implementation"/> (see ServiceBinder).</summary>
    public GrpcServer MapService(ServiceDescriptor service, object implementation)
    {
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(implementation);
        EnsureNotStarted();
        foreach (var handler in ServiceBinder.Bind(service, implementation).ToList())
            _dispatcher.Add(handler);
        return this;
    }

    public GrpcServer MapUnary<TRequest, TResponse>(MethodDescriptor method, UnaryHandler<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> =>
        Map<TRequest, TResponse>(method, handler);

    public GrpcServer MapServerStreaming<TRequest, TResponse>(MethodDescriptor method, ServerStreamingHandler<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> =>
        Map<TRequest, TResponse>(method, handler);

    public GrpcServer MapClientStreaming<TRequest, TResponse>(MethodDescriptor method, ClientStreamingHandler<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> =>
        Map<TRequest, TResponse>(method, handler);

    public GrpcServer MapDuplexStreaming<TRequest, TResponse>(MethodDescriptor method, DuplexStreamingHandler<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> =>
        Map<TRequest, TResponse>(method, handler);

    private GrpcServer Map<TRequest, TResponse>(MethodDescriptor method, Delegate handler)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        EnsureNotStarted();
        _dispatcher.Add(ServiceBinder.Create<TRequest, TResponse>(method, handler));
        return this;
    }

    /// <summary>
    /// Adds grpc.health.v1.Health. At start every mapped service and the server as a whole ("") are
    /// SERVING; while stopping they are NOT_SERVING. The returned service sets statuses at any time.
    /// </summary>
    public HealthService MapHealth()
    {
        if (_health is not null) return _health;
        _health = new HealthService();
        MapService(Grpc.Health.V1.HealthReflection.Descriptor.FindTypeByName<ServiceDescriptor>("Health"), _health);
        return _health;
    }

    /// <summary>Adds grpc.reflection.v1alpha.ServerReflection over every mapped service.</summary>
    public GrpcServer MapReflection()
    {
        var reflection = new ReflectionService(() => _dispatcher.Services);
        return MapService(Grpc.Reflection.V1Alpha.ReflectionReflection.Descriptor.FindTypeByName<ServiceDescriptor>("ServerReflection"), reflection);
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        EnsureNotStarted();
        var endpoint = ParseListen(Options.Listen);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Services.Replace(Microsoft.Extensions.DependencyInjection.ServiceDescriptor.Singleton(Options.LoggerFactory));
        builder.WebHost.UseKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            var limits = kestrel.Limits;
            limits.MaxRequestBodySize = null;
            limits.MinRequestBodyDataRate = null;
            limits.MinResponseDataRate = null;
            var http2 = Options.Http2;
            if (http2.InitialConnectionWindowSize is { } connectionWindow) limits.Http2.InitialConnectionWindowSize = connectionWindow;
            if (http2.InitialStreamWindowSize is { } streamWindow) limits.Http2.InitialStreamWindowSize = streamWindow;
            if (http2.MaxFrameSize is { } frame) limits.Http2.MaxFrameSize = frame;
            if (http2.MaxStreamsPerConnection is { } streams) limits.Http2.MaxStreamsPerConnection = streams;
            if (http2.MaxResponseBufferSize is { } responseBuffer) limits.MaxResponseBufferSize = responseBuffer;
            kestrel.Listen(endpoint, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                if (Options.Certificate is { } certificate) listen.UseHttps(certificate);
            });
        });
        _app = builder.Build();
        _app.Run(_dispatcher.HandleAsync);
        await _app.StartAsync(cancellationToken).ConfigureAwait(false);

        var bound = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var port = new Uri(bound.Replace("*", "localhost", StringComparison.Ordinal)).Port;
        var host = endpoint.Address.Equals(IPAddress.Any) ? IPAddress.Loopback
            : endpoint.Address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback : endpoint.Address;
        Address = new Uri($"{(Options.Certificate is null ? "http" : "https")}://{new IPEndPoint(host, port)}");

        if (_health is not null)
        {
            _health.SetStatus("", Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving);
            foreach (var service in Services)
                _health.SetStatus(service.FullName, Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving);
        }
    }

    /// <summary>
    /// Graceful stop: health turns NOT_SERVING and its watches end, new calls get UNAVAILABLE, in-flight
    /// calls get up to <paramref name="drainTimeout"/> (default Options.DrainTimeout) to finish before
    /// they are cancelled; then the listener closes.
    /// </summary>
    public async Task StopAsync(TimeSpan? drainTimeout = null)
    {
        if (_app is null || _stopped) return;
        _stopped = true;
        _health?.Shutdown();
        await _dispatcher.DrainAsync(drainTimeout ?? Options.DrainTimeout).ConfigureAwait(false);
        using var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(stopTimeout.Token).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await StopAsync(TimeSpan.Zero).ConfigureAwait(false);

    private void EnsureNotStarted()
    {
        if (_app is not null) throw new InvalidOperationException("map services before StartAsync; a server starts once");
    }

    /// <summary>"127.0.0.1:50051", "[::1]:0", "localhost:50051", "0.0.0.0:50051" or "*:50051".</summary>
    public static IPEndPoint ParseListen(string listen)
    {
        int colon = listen.LastIndexOf(':');
        if (colon > 0 && listen[..colon] is "localhost" or "*"
            && int.TryParse(listen[(colon + 1)..], out int port) && port is >= 0 and <= 65535)
            return new IPEndPoint(listen[..colon] == "*" ? IPAddress.Any : IPAddress.Loopback, port);
        if (IPEndPoint.TryParse(listen, out var endpoint) && colon > 0
            && (endpoint.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6 || listen.StartsWith('[') && listen[colon - 1] == ']'))
            return endpoint;
        throw new ArgumentException($"listen address '{listen}' is not HOST:PORT (e.g. 127.0.0.1:50051, [::1]:50051, 0.0.0.0:50051)", nameof(listen));
    }
}
