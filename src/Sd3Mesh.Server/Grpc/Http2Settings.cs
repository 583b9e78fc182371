namespace Sd3Mesh.Server.Grpc;

/// <summary>
/// Kestrel's HTTP/2 flow-control windows and frame size. Kestrel's defaults (1 MiB connection window,
/// 768 KiB stream window, 16 KiB frames, 64 KiB response buffer) stall a single stream of large tensors
/// on round trips; <see cref="LargeMessages"/> lets one stream keep several MiB in flight. Null leaves
/// Kestrel's default.
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
