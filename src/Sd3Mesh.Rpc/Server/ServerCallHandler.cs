using Google.Protobuf;
using Microsoft.AspNetCore.Http;

namespace Sd3Mesh.Rpc;

/// <summary>
/// Runs one method's calls (grpc-dotnet's ServerCallHandler shape): set up the call, run the call
/// type's steps (<see cref="HandleAsync"/>), and end it with the status the handler produced.
/// </summary>
internal abstract class ServerCallHandler(string path, Google.Protobuf.Reflection.MethodDescriptor? descriptor)
{
    public string Path { get; } = path;
    public Google.Protobuf.Reflection.MethodDescriptor? Descriptor { get; } = descriptor;

    public async Task HandleCallAsync(HttpContext http, ServerCallEnvironment env)
    {
        await using var call = new ServerCall(http, Path, env);
        if (call.Initialize() is { } error)
        {
            await call.CompleteAsync(error, null).ConfigureAwait(false);
            return;
        }
        try
        {
            await HandleAsync(call).ConfigureAwait(false);
            await call.CompleteAsync(call.Context.Status, null).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            await call.CompleteWithErrorAsync(e).ConfigureAwait(false);
        }
    }

    protected abstract Task HandleAsync(ServerCall call);
}

internal sealed class UnaryServerCallHandler<TRequest, TResponse>(
    Method<TRequest, TResponse> method, UnaryHandler<TRequest, TResponse> handler)
    : ServerCallHandler(method.Path, method.Descriptor)
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    protected override async Task HandleAsync(ServerCall call)
    {
        var request = await call.ReadSingleRequestAsync(method.RequestParser).ConfigureAwait(false);
        var response = await handler(request, call.Context).ConfigureAwait(false)
            ?? throw new RpcException(StatusCode.Internal, $"{method.Path} returned no response");
        await call.WriteMessageAsync(response, call.Context.CancellationToken).ConfigureAwait(false);
    }
}

internal sealed class ServerStreamingServerCallHandler<TRequest, TResponse>(
    Method<TRequest, TResponse> method, ServerStreamingHandler<TRequest, TResponse> handler)
    : ServerCallHandler(method.Path, method.Descriptor)
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    protected override async Task HandleAsync(ServerCall call)
    {
        var request = await call.ReadSingleRequestAsync(method.RequestParser).ConfigureAwait(false);
        await handler(request, new ResponseStream<TResponse>(call), call.Context).ConfigureAwait(false);
    }
}

internal sealed class ClientStreamingServerCallHandler<TRequest, TResponse>(
    Method<TRequest, TResponse> method, ClientStreamingHandler<TRequest, TResponse> handler)
    : ServerCallHandler(method.Path, method.Descriptor)
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    protected override async Task HandleAsync(ServerCall call)
    {
        var response = await handler(new RequestStream<TRequest>(call, method.RequestParser), call.Context).ConfigureAwait(false)
            ?? throw new RpcException(StatusCode.Internal, $"{method.Path} returned no response");
        await call.WriteMessageAsync(response, call.Context.CancellationToken).ConfigureAwait(false);
    }
}

internal sealed class DuplexStreamingServerCallHandler<TRequest, TResponse>(
    Method<TRequest, TResponse> method, DuplexStreamingHandler<TRequest, TResponse> handler)
    : ServerCallHandler(method.Path, method.Descriptor)
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    protected override Task HandleAsync(ServerCall call) =>
        handler(new RequestStream<TRequest>(call, method.RequestParser), new ResponseStream<TResponse>(call), call.Context);
}

/// <summary>A method the service declares but the implementation does not provide.</summary>
internal sealed class UnimplementedServerCallHandler(Google.Protobuf.Reflection.MethodDescriptor descriptor, string implementation)
    : ServerCallHandler(Methods.PathOf(descriptor), descriptor)
{
    protected override Task HandleAsync(ServerCall call) =>
        throw new RpcException(StatusCode.Unimplemented, $"{Path} is not implemented by {implementation}");
}

/// <summary>The request messages of a streaming call, read as they arrive. Enumerable once.</summary>
internal sealed class RequestStream<T>(ServerCall call, MessageParser<T> parser) : IAsyncEnumerable<T>
    where T : class, IMessage<T>
{
    private int _enumerated;

    public IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _enumerated, 1) == 1)
            throw new InvalidOperationException("a request stream can be enumerated only once");
        return ReadAll(cancellationToken).GetAsyncEnumerator(cancellationToken);
    }

    private async IAsyncEnumerable<T> ReadAll([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var linked = new LinkedToken(cancellationToken, call.Context.CancellationToken);
        while (await call.ReadMessageAsync(parser, linked.Token).ConfigureAwait(false) is { } message)
            yield return message;
    }
}

internal sealed class ResponseStream<T>(ServerCall call) : IServerStreamWriter<T> where T : class, IMessage<T>
{
    public Task WriteAsync(T message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        return call.WriteMessageAsync(message, cancellationToken);
    }
}
