using Grpc.AspNetCore.HealthChecks;
using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Sd3Mesh.Server.Grpc;

/// <summary>
/// A .NET Generic Host (WebApplication) that serves gRPC with grpc-dotnet as Sd3Mesh wants it: Kestrel with
/// the HTTP/2 settings for tensor streams on the gRPC endpoint (and an optional HTTP/1.1 endpoint for
/// pages), message size limits, gzip, every handler exception mapped to its status code, grpc.health.v1
/// (every mapped service reports the host's health checks) and server reflection (v1 and v1alpha).
/// Stopping is graceful: health turns NOT_SERVING and its watches end, Kestrel refuses new connections
/// and streams and gives in-flight calls <see cref="GrpcServerOptions.DrainTimeout"/> before aborting them.
/// <code>
/// var builder = GrpcHosting.CreateBuilder(options);   // add services, health checks, Orleans...
/// var app = builder.Build();
/// app.MapGrpcService&lt;MyService&gt;();
/// app.MapStandardServices();
/// await app.StartAsync(); var address = app.GrpcAddress();
/// </code>
/// </summary>
public static class GrpcHosting
{
    public static WebApplicationBuilder CreateBuilder(GrpcServerOptions options)
    {
        var grpcEndpoint = ListenAddress.Parse(options.Listen);
        var httpEndpoint = options.HttpListen is { } http ? ListenAddress.Parse(http) : null;
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            // No file watchers: a test run starts many hosts, and inotify instances are few.
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        options.Logging?.Invoke(builder.Logging);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.DrainTimeout);

        var endpoints = new HostEndpoints(options.Certificate is not null);
        builder.Services.AddSingleton(endpoints);
        builder.Services.AddSingleton(options);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            var limits = kestrel.Limits;
            limits.MaxRequestBodySize = null;
            limits.MinRequestBodyDataRate = null;
            limits.MinResponseDataRate = null;
            var http2 = options.Http2;
            if (http2.InitialConnectionWindowSize is { } connectionWindow) limits.Http2.InitialConnectionWindowSize = connectionWindow;
            if (http2.InitialStreamWindowSize is { } streamWindow) limits.Http2.InitialStreamWindowSize = streamWindow;
            if (http2.MaxFrameSize is { } frame) limits.Http2.MaxFrameSize = frame;
            if (http2.MaxStreamsPerConnection is { } streams) limits.Http2.MaxStreamsPerConnection = streams;
            if (http2.MaxResponseBufferSize is { } responseBuffer) limits.MaxResponseBufferSize = responseBuffer;
            kestrel.Listen(grpcEndpoint, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                if (options.Certificate is { } certificate) listen.UseHttps(certificate);
                endpoints.GrpcListen = listen;
            });
            if (httpEndpoint is not null)
                kestrel.Listen(httpEndpoint, listen =>
                {
                    listen.Protocols = HttpProtocols.Http1;
                    endpoints.HttpListen = listen;
                });
        });

        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = options.MaxReceiveMessageSize;
            grpc.MaxSendMessageSize = options.MaxSendMessageSize;
            grpc.ResponseCompressionAlgorithm = options.ResponseCompression;
            grpc.Interceptors.Add<StatusInterceptor>();
        });
        builder.Services.AddGrpcReflection();
        builder.Services.AddGrpcHealthChecks().AddCheck<ServingHealthCheck>("serving");
        return builder;
    }

    /// <summary>
    /// Maps grpc.health.v1.Health and server reflection (call it after the host's own services), and /healthz on
    /// the HTTP/1.1 endpoint if there is one. Every mapped gRPC service then answers health checks with all of
    /// the host's checks; names of services the host does not serve answer NOT_FOUND.
    /// </summary>
    public static WebApplication MapStandardServices(this WebApplication app)
    {
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        if (app.Services.GetRequiredService<HostEndpoints>() is { HasHttp: true })
            app.MapHealthChecks("/healthz");
        var health = app.Services.GetRequiredService<IOptions<GrpcHealthChecksOptions>>().Value;
        foreach (var service in ((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints)
                     .Select(e => e.Metadata.GetMetadata<GrpcMethodMetadata>()?.Method.ServiceName).OfType<string>().Distinct())
            health.Services.Map(service, _ => true);
        return app;
    }

    /// <summary>The address gRPC clients on this machine use, e.g. http://127.0.0.1:50051 (after StartAsync).</summary>
    public static Uri GrpcAddress(this WebApplication app) => app.Services.GetRequiredService<HostEndpoints>().Grpc;

    /// <summary>The HTTP/1.1 endpoint's address, null without one (after StartAsync).</summary>
    public static Uri? HttpAddress(this WebApplication app) => app.Services.GetRequiredService<HostEndpoints>().Http;
}

/// <summary>The host's endpoints; their addresses are known once Kestrel has bound them (port 0 picks one).</summary>
public sealed class HostEndpoints(bool tls)
{
    internal ListenOptions? GrpcListen { get; set; }
    internal ListenOptions? HttpListen { get; set; }

    public bool HasHttp => HttpListen is not null;

    public Uri Grpc => ListenAddress.ClientUri(GrpcListen?.IPEndPoint ?? throw NotStarted(), tls);
    public Uri? Http => HttpListen is null ? null : ListenAddress.ClientUri(HttpListen.IPEndPoint ?? throw NotStarted(), tls: false);

    private static InvalidOperationException NotStarted() => new("the host has not been started: its endpoints are not bound yet");
}

/// <summary>Healthy while the host serves; unhealthy from the moment it starts stopping.</summary>
public sealed class ServingHealthCheck(IHostApplicationLifetime lifetime) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(lifetime.ApplicationStopping.IsCancellationRequested
            ? HealthCheckResult.Unhealthy("the server is shutting down")
            : HealthCheckResult.Healthy());
}
