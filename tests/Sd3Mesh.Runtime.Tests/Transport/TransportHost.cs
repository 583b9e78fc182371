using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sd3Mesh.Runtime.Tensors;
using Sd3Mesh.Runtime.Transport;

namespace Sd3Mesh.Runtime.Tests.Transport;

/// <summary>
/// A silo's ASP.NET Core host reduced to the tensor transport: Kestrel on a loopback HTTP/2 port with the windows a
/// silo's gRPC endpoint uses (Sd3Mesh.Server's Http2Settings.LargeMessages), the transport's services, and whatever
/// <c>configure</c> adds (Orleans, an interceptor).
/// </summary>
public sealed class TransportHost : IAsyncDisposable
{
    private TransportHost(WebApplication app, string silo, Uri endpoint) => (App, Silo, Endpoint) = (app, silo, endpoint);

    public WebApplication App { get; }
    public string Silo { get; }
    public Uri Endpoint { get; }
    public ITensorExchange Exchange => App.Services.GetRequiredService<ITensorExchange>();
    public TensorStore Store => App.Services.GetRequiredService<TensorStore>();
    public TransportChannels Channels => App.Services.GetRequiredService<TransportChannels>();

    public static async Task<TransportHost> StartAsync(string silo, TensorTransportOptions? options = null, int? port = null,
        Action<WebApplicationBuilder>? configure = null)
    {
        int p = port ?? Sd3Mesh.Runtime.Config.EmbeddedCluster.FreeLoopbackPorts(1)[0];
        var endpoint = new Uri($"http://127.0.0.1:{p}");
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.Http2.InitialConnectionWindowSize = 32 * 1024 * 1024;
            kestrel.Limits.Http2.InitialStreamWindowSize = 16 * 1024 * 1024;
            kestrel.Limits.Http2.MaxFrameSize = 1024 * 1024;
            kestrel.Limits.MaxResponseBufferSize = 4 * 1024 * 1024;
            kestrel.Listen(IPAddress.Loopback, p, listen => listen.Protocols = HttpProtocols.Http2);
        });
        builder.Services.AddTensorTransport(silo, endpoint, options);
        configure?.Invoke(builder);
        var app = builder.Build();
        app.MapTensorTransport();
        await app.StartAsync();
        return new TransportHost(app, silo, endpoint);
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
