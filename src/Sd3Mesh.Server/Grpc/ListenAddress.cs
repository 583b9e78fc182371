using System.Net;
using System.Net.Sockets;

namespace Sd3Mesh.Server.Grpc;

/// <summary>The HOST:PORT forms a listen option takes.</summary>
public static class ListenAddress
{
    /// <summary>"127.0.0.1:50051", "[::1]:0", "localhost:50051", "0.0.0.0:50051" or "*:50051"; port 0 picks a free one.</summary>
    public static IPEndPoint Parse(string listen)
    {
        int colon = listen.LastIndexOf(':');
        if (colon > 0 && listen[..colon] is "localhost" or "*"
            && int.TryParse(listen[(colon + 1)..], out int port) && port is >= 0 and <= 65535)
            return new IPEndPoint(listen[..colon] == "*" ? IPAddress.Any : IPAddress.Loopback, port);
        if (IPEndPoint.TryParse(listen, out var endpoint) && colon > 0
            && (endpoint.AddressFamily != AddressFamily.InterNetworkV6 || listen.StartsWith('[') && listen[colon - 1] == ']'))
            return endpoint;
        throw new ArgumentException($"listen address '{listen}' is not HOST:PORT (e.g. 127.0.0.1:50051, [::1]:50051, 0.0.0.0:50051)");
    }

    /// <summary>The address a client on this machine uses for a bound endpoint (loopback for "every interface").</summary>
    public static Uri ClientUri(IPEndPoint bound, bool tls)
    {
        var host = bound.Address.Equals(IPAddress.Any) ? IPAddress.Loopback
            : bound.Address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback : bound.Address;
        return new Uri($"{(tls ? "https" : "http")}://{new IPEndPoint(host, bound.Port)}");
    }
}
