using Microsoft.AspNetCore.Http;

namespace Sd3Mesh.Rpc;

/// <summary>What a handler knows about its call, and what it may add to the response.</summary>
public sealed class ServerCallContext
{
    private readonly ServerCall _call;

    internal ServerCallContext(ServerCall call, HttpContext httpContext, string method, DateTime? deadline,
        Metadata requestHeaders, CancellationToken cancellationToken)
    {
        _call = call;
        HttpContext = httpContext;
        Method = method;
        Deadline = deadline;
        RequestHeaders = requestHeaders;
        CancellationToken = cancellationToken;
        var connection = httpContext.Connection;
        Peer = connection.RemoteIpAddress is null ? "unknown"
            : $"{(connection.RemoteIpAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "ipv6" : "ipv4")}:{connection.RemoteIpAddress}:{connection.RemotePort}";
    }

    /// <summary>The call's path, "/package.Service/Method".</summary>
    public string Method { get; }

    /// <summary>"ipv4:127.0.0.1:51234", as grpcio names peers.</summary>
    public string Peer { get; }

    /// <summary>UTC deadline from grpc-timeout, or null for none.</summary>
    public DateTime? Deadline { get; }

    /// <summary>The client's custom metadata (reserved headers left out).</summary>
    public Metadata RequestHeaders { get; }

    /// <summary>Fires when the client cancels (RST_STREAM), the deadline passes, or the server stops.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>Metadata sent with the status at the end of the call.</summary>
    public Metadata ResponseTrailers { get; } = new();

    /// <summary>The status sent when the handler returns normally (OK unless set). A thrown exception wins.</summary>
    public Status Status { get; set; } = Status.Ok;

    /// <summary>Compress this call's responses with "gzip"/"deflate" if the client accepts it (overrides the server option).</summary>
    public string? ResponseCompression
    {
        get => _call.ResponseCompressionRequest;
        set => _call.ResponseCompressionRequest = value;
    }

    /// <summary>Sends the response headers now, with <paramref name="headers"/> added. At most once, before any message.</summary>
    public Task WriteResponseHeadersAsync(Metadata headers) => _call.WriteResponseHeadersAsync(headers);

    /// <summary>The underlying ASP.NET Core request (connection details, TLS client certificate, ...).</summary>
    public HttpContext HttpContext { get; }
}
