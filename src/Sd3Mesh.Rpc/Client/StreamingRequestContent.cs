using System.Net;

namespace Sd3Mesh.Rpc;

/// <summary>
/// A request body written message by message while the call runs (client and duplex streaming).
/// HttpClient calls SerializeToStreamAsync once the request headers are sent; the body stays open until
/// <see cref="Complete"/> (END_STREAM) or <see cref="Abort"/> (the stream is reset).
/// </summary>
internal sealed class StreamingRequestContent : HttpContent
{
    private readonly TaskCompletionSource<Stream> _stream = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public StreamingRequestContent() => Headers.TryAddWithoutValidation("Content-Type", GrpcProtocol.ContentType);

    public Task<Stream> GetStreamAsync(CancellationToken cancellationToken) => _stream.Task.WaitAsync(cancellationToken);

    public void Complete() => _done.TrySetResult();

    public void Abort()
    {
        var error = new OperationCanceledException("the call ended");
        _stream.TrySetException(error);
        _done.TrySetException(error);
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        _stream.TrySetResult(stream);
        await _done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }
}
