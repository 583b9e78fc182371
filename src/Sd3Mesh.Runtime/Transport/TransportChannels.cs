using System.Collections.Concurrent;
using Grpc.Net.Client;

namespace Sd3Mesh.Runtime.Transport;

/// <summary>
/// One gRPC channel per peer silo endpoint, made on first use and kept for the silo's life: concurrent fetches from
/// one silo share its HTTP/2 connection (more connections open past the server's stream limit).
/// </summary>
public sealed class TransportChannels : IDisposable
{
    /// <summary>
    /// The receive window of each HTTP/2 stream. .NET starts at 64 KiB and grows it by its own estimate; starting
    /// large lets one tensor stream run at full speed at once (as Sd3Mesh.Server's GrpcChannels does for its clients);
    /// 16 MiB is the most .NET accepts.
    /// </summary>
    public const int StreamWindowBytes = 16 * 1024 * 1024;

    private readonly ConcurrentDictionary<string, Lazy<GrpcChannel>> _channels = new(StringComparer.Ordinal);
    private bool _disposed;

    public GrpcChannel For(Uri endpoint)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _channels.GetOrAdd(endpoint.ToString(), key => new Lazy<GrpcChannel>(() => Create(new Uri(key)))).Value;
    }

    public int Count => _channels.Count;

    private static GrpcChannel Create(Uri endpoint) => GrpcChannel.ForAddress(endpoint, new GrpcChannelOptions
    {
        HttpHandler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            InitialHttp2StreamWindowSize = StreamWindowBytes,
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
        },
        DisposeHttpClient = true,
        // A chunk (at most 4 MiB) plus its framing; the request is a few bytes.
        MaxReceiveMessageSize = TensorTransportOptions.MaxChunkBytes + 64 * 1024,
        MaxSendMessageSize = 64 * 1024,
    });

    public void Dispose()
    {
        _disposed = true;
        foreach (var channel in _channels.Values)
            if (channel.IsValueCreated) channel.Value.Dispose();
        _channels.Clear();
    }
}
