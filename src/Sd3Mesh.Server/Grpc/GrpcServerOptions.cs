using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace Sd3Mesh.Server.Grpc;

/// <summary>How a gRPC host listens and what it accepts (see <see cref="GrpcHosting"/>).</summary>
public class GrpcServerOptions
{
    /// <summary>64 MiB: an init image of 32 MiB and a finished event of up to 16 inline images fit.</summary>
    public const int DefaultMaxMessageSize = 64 * 1024 * 1024;

    /// <summary>HOST:PORT of the gRPC endpoint (HTTP/2 only; loopback by default; port 0 picks a free one).</summary>
    public string Listen { get; set; } = "127.0.0.1:50051";

    /// <summary>
    /// HOST:PORT of an HTTP/1.1 endpoint for pages (the dashboard, /metrics, /healthz); null: none.
    /// Kestrel cannot serve HTTP/1.1 and cleartext HTTP/2 (gRPC) on one port, hence two endpoints.
    /// </summary>
    public string? HttpListen { get; set; }

    /// <summary>Serve the gRPC endpoint over TLS (h2 by ALPN) with this certificate and key; null: cleartext HTTP/2.</summary>
    public X509Certificate2? Certificate { get; set; }

    /// <summary>Largest request message accepted (after decompression); bigger ones fail the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxReceiveMessageSize { get; set; } = DefaultMaxMessageSize;

    /// <summary>Largest response message a handler may send; bigger ones fail the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxSendMessageSize { get; set; } = DefaultMaxMessageSize;

    /// <summary>Compress responses with this encoding ("gzip") when the client accepts it; null: never. Requests may always be gzip.</summary>
    public string? ResponseCompression { get; set; }

    /// <summary>How long stopping waits for jobs to wind down and in-flight calls to finish before they are cancelled.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>HTTP/2 windows and frame sizes (see <see cref="Http2Settings"/>).</summary>
    public Http2Settings Http2 { get; set; } = Http2Settings.LargeMessages;

    /// <summary>Where logs go; null: nowhere (tests). `sd3mesh serve` logs warnings to the console.</summary>
    public Action<ILoggingBuilder>? Logging { get; set; }
}
