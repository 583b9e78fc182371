using Google.Protobuf;
using Google.Protobuf.Reflection;
using Sd3Mesh.Rpc.Tests.Echo;

namespace Sd3Mesh.Rpc.Tests;

/// <summary>sd3mesh.rpc.test.Echo on our server; python/echo_peer.py implements the same behaviour on grpcio.</summary>
public sealed class EchoService
{
    public static ServiceDescriptor Descriptor => EchoReflection.Descriptor.FindTypeByName<ServiceDescriptor>("Echo");
    public static MethodDescriptor Method(string name) => Descriptor.FindMethodByName(name);

    /// <summary>Completes when a handler's CancellationToken fires (the test asserts it did).</summary>
    public TaskCompletionSource<string> Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when a handler starts (so a test can cancel mid-call).</summary>
    public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>When set, Say waits for it before replying: a call kept in flight for as long as a test needs.</summary>
    public TaskCompletionSource? Hold { get; set; }

    /// <summary>The grpc-encoding of every Say request (null when uncompressed).</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string?> RequestEncodings { get; } = new();

    public async Task<EchoReply> Say(EchoRequest request, ServerCallContext context)
    {
        Started.TrySetResult();
        RequestEncodings.Enqueue(context.HttpContext.Request.Headers[GrpcProtocol.EncodingHeader]);
        await EchoMetadataAsync(context);
        if (Hold is { } hold) await CancellableAsync(hold.Task, context);
        await DelayAsync(request, context);
        Fail(request);
        return new EchoReply { Text = request.Text, Payload = request.Payload };
    }

    public async Task Repeat(EchoRequest request, IServerStreamWriter<EchoReply> responses, ServerCallContext context)
    {
        Started.TrySetResult();
        await EchoMetadataAsync(context);
        for (int i = 0; i < request.Count; i++)
        {
            await DelayAsync(request, context);
            await responses.WriteAsync(new EchoReply { Text = request.Text, Index = i, Payload = request.Payload });
        }
        Fail(request);
    }

    public async Task<EchoReply> Collect(IAsyncEnumerable<EchoRequest> requests, ServerCallContext context)
    {
        Started.TrySetResult();
        await EchoMetadataAsync(context);
        var texts = new List<string>();
        var payload = new MemoryStream();
        await foreach (var request in requests)
        {
            texts.Add(request.Text);
            request.Payload.WriteTo(payload);
            await DelayAsync(request, context);
            Fail(request);
        }
        return new EchoReply { Text = string.Join(",", texts), Index = texts.Count, Payload = ByteString.CopyFrom(payload.ToArray()) };
    }

    public async Task Chat(IAsyncEnumerable<EchoRequest> requests, IServerStreamWriter<EchoReply> responses, ServerCallContext context)
    {
        Started.TrySetResult();
        await EchoMetadataAsync(context);
        int index = 0;
        await foreach (var request in requests)
        {
            await DelayAsync(request, context);
            Fail(request);
            await responses.WriteAsync(new EchoReply { Text = request.Text, Index = index++, Payload = request.Payload });
        }
    }

    /// <summary>Request metadata whose key starts with "x-" comes back in the response headers and the trailers.</summary>
    private static async Task EchoMetadataAsync(ServerCallContext context)
    {
        var echoed = new Metadata();
        foreach (var entry in context.RequestHeaders.Where(e => e.Key.StartsWith("x-", StringComparison.Ordinal)))
        {
            if (entry.IsBinary) echoed.Add(entry.Key, entry.ValueBytes);
            else echoed.Add(entry.Key, entry.Value);
            if (entry.IsBinary) context.ResponseTrailers.Add(entry.Key, entry.ValueBytes);
            else context.ResponseTrailers.Add(entry.Key, entry.Value);
        }
        if (echoed.Count > 0) await context.WriteResponseHeadersAsync(echoed);
    }

    private Task DelayAsync(EchoRequest request, ServerCallContext context) =>
        request.DelayMs <= 0 ? Task.CompletedTask : CancellableAsync(Task.Delay(request.DelayMs, context.CancellationToken), context);

    private async Task CancellableAsync(Task wait, ServerCallContext context)
    {
        try
        {
            await wait.WaitAsync(context.CancellationToken);
        }
        catch (OperationCanceledException)
        {
            Cancelled.TrySetResult(context.Method);
            throw;
        }
    }

    private static void Fail(EchoRequest request)
    {
        if (request.FailCode != 0) throw new RpcException((StatusCode)request.FailCode, request.FailMessage);
    }
}
