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
    public static GrpcChannel Create(Uri address, RemoteCertificateValidationCallback? trustServer = null, int? streamWindow = DefaultStreamWindow,
        int maxReceiveMessageSize = GrpcServerOptions.DefaultMaxMessageSize, int maxSendMessageSize = GrpcServerOptions.DefaultMaxMessageSize)
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
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = maxReceiveMessageSize,
            MaxSendMessageSize = maxSendMessageSize,
        });
    }

    public static GrpcChannel Create(string address) => Create(new Uri(address));
}
