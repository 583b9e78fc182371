using System.Net.Security;

namespace Sd3Mesh.Rpc;

public sealed class GrpcChannelOptions
{
    /// <summary>Largest response message accepted (after decompression); bigger ones fail the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxReceiveMessageSize { get; set; } = GrpcProtocol.DefaultMaxMessageSize;

    /// <summary>Largest request message sent; bigger ones fail before sending with RESOURCE_EXHAUSTED.</summary>
    public int MaxSendMessageSize { get; set; } = GrpcProtocol.DefaultMaxMessageSize;

    /// <summary>
    /// The receive window of each HTTP/2 stream (SocketsHttpHandler.InitialHttp2StreamWindowSize).
    /// .NET's default is 64 KiB, growing by its own estimate; starting large lets one stream of tensors
    /// run at full speed at once. Null keeps .NET's default.
    /// </summary>
    public int? InitialStreamWindowSize { get; set; } = 8 * 1024 * 1024;

    /// <summary>Open more HTTP/2 connections when one reaches the server's stream limit.</summary>
    public bool EnableMultipleHttp2Connections { get; set; } = true;

    /// <summary>For https addresses: decides whether to trust the server's certificate (e.g. a self-signed one). Null: the system's trust store.</summary>
    public RemoteCertificateValidationCallback? ServerCertificateValidation { get; set; }

    /// <summary>Use this handler instead of creating one (the channel then ignores the settings above and does not dispose it).</summary>
    public HttpMessageHandler? HttpHandler { get; set; }
}
