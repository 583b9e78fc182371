using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Sd3Mesh.Server.Benchmark;
using Sd3Mesh.Server.Grpc;
using Sd3Mesh.Server.Tests.Echo;

namespace Sd3Mesh.Server.Tests.Grpc;

/// <summary>
/// The Echo and RpcBenchmark services on a host built exactly as the silo's (<see cref="GrpcHosting"/>: limits,
/// compression, status mapping, health, reflection), on a free loopback port, and a channel to it.
/// </summary>
public sealed class EchoServer : IAsyncDisposable
{
    private EchoServer(WebApplication app, EchoService echo, GrpcChannel channel)
    {
        App = app;
        Echo = echo;
        Channel = channel;
        Client = new Echo.Echo.EchoClient(channel);
    }

    public WebApplication App { get; }
    public EchoService Echo { get; }
    public GrpcChannel Channel { get; }
    public Echo.Echo.EchoClient Client { get; }
    public Uri Address => App.GrpcAddress();
    public int Port => Address.Port;

    /// <param name="configure">changes to the server's options (Listen is always a free loopback port)</param>
    /// <param name="trustServer">for TLS: the client's certificate check</param>
    public static async Task<EchoServer> StartAsync(Action<GrpcServerOptions>? configure = null,
        System.Net.Security.RemoteCertificateValidationCallback? trustServer = null)
    {
        var options = new GrpcServerOptions();
        configure?.Invoke(options);
        options.Listen = "127.0.0.1:0";
        var builder = GrpcHosting.CreateBuilder(options);
        var echo = new EchoService();
        builder.Services.AddSingleton(echo);
        builder.Services.AddSingleton<RpcBenchmarkService>();
        var app = builder.Build();
        app.MapGrpcService<EchoService>();
        app.MapGrpcService<RpcBenchmarkService>();
        app.MapStandardServices();
        await app.StartAsync();
        return new EchoServer(app, echo, GrpcChannels.Create(app.GrpcAddress(), trustServer));
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
