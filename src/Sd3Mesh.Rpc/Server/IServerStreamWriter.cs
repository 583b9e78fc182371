namespace Sd3Mesh.Rpc;

/// <summary>The response stream of a server-streaming or duplex call.</summary>
public interface IServerStreamWriter<in T>
{
    /// <summary>Sends one message (and flushes it). Throws once the call has ended.</summary>
    Task WriteAsync(T message, CancellationToken cancellationToken = default);
}
