using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Sd3Mesh.Rpc;

public sealed class GrpcServerOptions
{
    /// <summary>
    /// host:port to listen on. Loopback by default; port 0 picks a free port (see GrpcServer.Address).
    /// "0.0.0.0:P" or "*:P" listens on every interface, "[::1]:P" on IPv6 loopback.
    /// </summary>
    public string Listen { get; set; } = "127.0.0.1:0";

    /// <summary>With a certificate (and its private key) the server speaks TLS (h2 by ALPN); without, cleartext HTTP/2 with prior knowledge.</summary>
    public X509Certificate2? Certificate { get; set; }

    /// <summary>Largest message accepted (after decompression); bigger ones fail the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxReceiveMessageSize { get; set; } = GrpcProtocol.DefaultMaxMessageSize;

    /// <summary>Largest message a handler may send; bigger ones fail the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxSendMessageSize { get; set; } = GrpcProtocol.DefaultMaxMessageSize;

    /// <summary>Compress responses with this encoding ("gzip", "deflate") when the client accepts it. Null: never.</summary>
    public string? ResponseCompression { get; set; }

    /// <summary>Send exception messages of unexpected handler errors to clients (debugging only: they may leak internals).</summary>
    public bool IncludeExceptionDetails { get; set; }

    /// <summary>How long StopAsync waits for in-flight calls before cancelling them.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>HTTP/2 windows and frame sizes (see <see cref="Http2Settings"/>).</summary>
    public Http2Settings Http2 { get; set; } = Http2Settings.LargeMessages;

    public ILoggerFactory LoggerFactory { get; set; } = NullLoggerFactory.Instance;
}

/// <summary>
/// Kestrel's HTTP/2 flow-control windows and frame size. Kestrel's defaults (1 MiB connection window,
/// 768 KiB stream window, 16 KiB frames, 64 KiB response buffer) stall a single stream of large
/// tensors on round trips; <see cref="LargeMessages"/> lets one stream keep several MiB in flight.
/// Null leaves Kestrel's default.
/// </summary>
public sealed record Http2Settings
{
    public int? InitialConnectionWindowSize { get; init; }
    public int? InitialStreamWindowSize { get; init; }
    /// <summary>Largest DATA frame the server accepts (16 KiB .. 16 MiB - 1).</summary>
    public int? MaxFrameSize { get; init; }
    /// <summary>Response bytes Kestrel buffers before a write waits for the client (null here: Kestrel's 64 KiB).</summary>
    public long? MaxResponseBufferSize { get; init; }
    public int? MaxStreamsPerConnection { get; init; }

    public static readonly Http2Settings KestrelDefaults = new();

    public static readonly Http2Settings LargeMessages = new()
    {
        InitialConnectionWindowSize = 32 * 1024 * 1024,
        InitialStreamWindowSize = 16 * 1024 * 1024,
        MaxFrameSize = 1024 * 1024,
        MaxResponseBufferSize = 4 * 1024 * 1024,
        MaxStreamsPerConnection = 1000,
    };
}
