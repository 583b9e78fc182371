using System.Runtime.CompilerServices;
using Google.Protobuf;

namespace Sd3Mesh.Rpc;

/// <summary>The request stream of a client-streaming or duplex call.</summary>
public interface IClientStreamWriter<in T>
{
    /// <summary>Sends one message. Throws RpcException with the call's status if the call has already ended.</summary>
    Task WriteAsync(T message, CancellationToken cancellationToken = default);

    /// <summary>Ends the request stream (END_STREAM); the server sees the end of its request enumeration.</summary>
    Task CompleteAsync();
}

/// <summary>Common to every call: response headers, and status and trailers once it ended. Dispose cancels an unfinished call.</summary>
public abstract class CallBase : IDisposable
{
    private protected CallBase(Task<Metadata> headers, Func<Status> status, Func<Metadata> trailers, Action dispose)
    {
        ResponseHeadersAsync = headers;
        _status = status;
        _trailers = trailers;
        _dispose = dispose;
    }

    private readonly Func<Status> _status;
    private readonly Func<Metadata> _trailers;
    private readonly Action _dispose;

    /// <summary>The server's response headers (custom metadata only).</summary>
    public Task<Metadata> ResponseHeadersAsync { get; }

    /// <summary>The call's status; throws while the call runs.</summary>
    public Status GetStatus() => _status();

    /// <summary>The server's trailers; throws while the call runs.</summary>
    public Metadata GetTrailers() => _trailers();

    public void Dispose()
    {
        _dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class UnaryCall<TResponse> : CallBase
{
    internal UnaryCall(Task<TResponse> response, Task<Metadata> headers, Func<Status> status, Func<Metadata> trailers, Action dispose)
        : base(headers, status, trailers, dispose) => ResponseAsync = response;

    public Task<TResponse> ResponseAsync { get; }
    public TaskAwaiter<TResponse> GetAwaiter() => ResponseAsync.GetAwaiter();
}

public sealed class ServerStreamingCall<TResponse> : CallBase
{
    internal ServerStreamingCall(IAsyncEnumerable<TResponse> responses, Task<Metadata> headers, Func<Status> status, Func<Metadata> trailers, Action dispose)
        : base(headers, status, trailers, dispose) => ResponseStream = responses;

    /// <summary>The responses as they arrive; ends when the call ends OK, throws RpcException otherwise. Enumerable once.</summary>
    public IAsyncEnumerable<TResponse> ResponseStream { get; }
}

public sealed class ClientStreamingCall<TRequest, TResponse> : CallBase
{
    internal ClientStreamingCall(IClientStreamWriter<TRequest> requests, Task<TResponse> response, Task<Metadata> headers,
        Func<Status> status, Func<Metadata> trailers, Action dispose)
        : base(headers, status, trailers, dispose)
    {
        RequestStream = requests;
        ResponseAsync = response;
    }

    public IClientStreamWriter<TRequest> RequestStream { get; }
    /// <summary>The single response (after the request stream is completed, usually).</summary>
    public Task<TResponse> ResponseAsync { get; }
}

public sealed class DuplexStreamingCall<TRequest, TResponse> : CallBase
{
    internal DuplexStreamingCall(IClientStreamWriter<TRequest> requests, IAsyncEnumerable<TResponse> responses, Task<Metadata> headers,
        Func<Status> status, Func<Metadata> trailers, Action dispose)
        : base(headers, status, trailers, dispose)
    {
        RequestStream = requests;
        ResponseStream = responses;
    }

    public IClientStreamWriter<TRequest> RequestStream { get; }
    public IAsyncEnumerable<TResponse> ResponseStream { get; }
}

internal sealed class ClientRequestStream<TRequest, TResponse>(GrpcCall<TRequest, TResponse> call) : IClientStreamWriter<TRequest>
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    public Task WriteAsync(TRequest message, CancellationToken cancellationToken = default) => call.WriteAsync(message, cancellationToken);
    public Task CompleteAsync() => call.CompleteRequestAsync();
}

internal sealed class ClientResponseStream<TRequest, TResponse>(GrpcCall<TRequest, TResponse> call) : IAsyncEnumerable<TResponse>
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private int _enumerated;

    public IAsyncEnumerator<TResponse> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _enumerated, 1) == 1)
            throw new InvalidOperationException("a response stream can be enumerated only once");
        return ReadAll(cancellationToken).GetAsyncEnumerator(cancellationToken);
    }

    private async IAsyncEnumerable<TResponse> ReadAll([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (await call.ReadNextAsync(cancellationToken).ConfigureAwait(false) is { } message)
            yield return message;
    }
}
