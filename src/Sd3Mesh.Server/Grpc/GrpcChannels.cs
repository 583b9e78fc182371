using System.Net.Security;
using Grpc.Net.Client;

namespace Sd3Mesh.Server.Grpc;

/// <summary>grpc-dotnet channels with the settings Sd3Mesh's clients use (the CLI, the tests).</summary>
public static class GrpcChannels
{
    /// <summary>
    /// The receive window of each HTTP/2 stream. .NET starts at 64 KiB and grows it by its own estimate;
    /// starting large lets one stream of tensors (or a 100 MB download) run at full speed at once.
    /// </summary>
    public const int DefaultStreamWindow = 8 * 1024 * 1024;

    /// <param name="address">http://HOST:PORT (cleartext HTTP/2) or https://HOST:PORT</param>
    /// <param name="trustServer">for https: decides whether to trust the server's certificate (e.g. a self-signed one); null: the system's trust store</param>
    /// <param name="streamWindow">the initial HTTP/2 stream window; null: .NET's default</param>
    /// <param name="bearerToken">sent with every call as <c>authorization: Bearer TOKEN</c> (a server's API token); null: none</param>
    public static GrpcChannel Create(Uri address, RemoteCertificateValidationCallback? trustServer = null, int? streamWindow = DefaultStreamWindow,
        int maxReceiveMessageSize = GrpcServerOptions.DefaultMaxMessageSize, int maxSendMessageSize = GrpcServerOptions.DefaultMaxMessageSize,
        string? bearerToken = null)
    {
        var handler = new SocketsHttpHandler
        {
            // More connections once one reaches the server's stream limit, as grpc-dotnet's own handler does.
            EnableMultipleHttp2Connections = true,
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
        };
        if (streamWindow is { } window) handler.InitialHttp2StreamWindowSize = window;
        if (trustServer is not null) handler.SslOptions.RemoteCertificateValidationCallback = trustServer;
        return GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = bearerToken is null ? handler : new BearerToken(bearerToken) { InnerHandler = handler },
            DisposeHttpClient = true,
            MaxReceiveMessageSize = maxReceiveMessageSize,
            MaxSendMessageSize = maxSendMessageSize,
        });
    }

    public static GrpcChannel Create(string address) => Create(new Uri(address));
}

/// <summary>Adds <c>authorization: Bearer TOKEN</c> to every request (on http and https alike, unlike gRPC call credentials).</summary>
internal sealed class BearerToken(string token) : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return base.SendAsync(request, cancellationToken);
    }
}
