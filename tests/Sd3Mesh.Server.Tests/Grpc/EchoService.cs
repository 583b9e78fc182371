using Google.Protobuf;
using Grpc.Core;
using Sd3Mesh.Server.Tests.Echo;

namespace Sd3Mesh.Server.Tests.Grpc;

/// <summary>sd3mesh.rpc.test.Echo on grpc-dotnet; python/echo_peer.py implements the same behaviour on grpcio.</summary>
public sealed class EchoService : Echo.Echo.EchoBase
{
    /// <summary>Completes when a handler's CancellationToken fires (the test asserts it did).</summary>
    public TaskCompletionSource<string> Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when a handler starts (so a test can cancel mid-call).</summary>
    public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private TaskCompletionSource? _hold;

    /// <summary>When set, the next Say waits for it before replying: a call kept in flight for as long as a test needs.</summary>
    public TaskCompletionSource? Hold { get => _hold; set => _hold = value; }

    /// <summary>The grpc-encoding of every Say request (null when uncompressed).</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string?> RequestEncodings { get; } = new();

    public override async Task<EchoReply> Say(EchoRequest request, ServerCallContext context)
    {
        Started.TrySetResult();
        RequestEncodings.Enqueue(context.GetHttpContext().Request.Headers["grpc-encoding"].FirstOrDefault());
        Throw(request);
        await EchoMetadataAsync(context);
        if (Interlocked.Exchange(ref _hold, null) is { } hold) await CancellableAsync(hold.Task, context);
        await DelayAsync(request, context);
        Fail(request);
        return new EchoReply { Text = request.Text, Payload = request.Payload };
    }

    public override async Task Repeat(EchoRequest request, IServerStreamWriter<EchoReply> responseStream, ServerCallContext context)
    {
        Started.TrySetResult();
        await EchoMetadataAsync(context);
        Throw(request);
        for (int i = 0; i < request.Count; i++)
        {
            await DelayAsync(request, context);
            await responseStream.WriteAsync(new EchoReply { Text = request.Text, Index = i, Payload = request.Payload });
        }
        Fail(request);
    }

    public override async Task<EchoReply> Collect(IAsyncStreamReader<EchoRequest> requestStream, ServerCallContext context)
    {
        Started.TrySetResult();
        await EchoMetadataAsync(context);
        var texts = new List<string>();
        var payload = new MemoryStream();
        await foreach (var request in requestStream.ReadAllAsync())
        {
            texts.Add(request.Text);
            request.Payload.WriteTo(payload);
            await DelayAsync(request, context);
            Fail(request);
        }
        return new EchoReply { Text = string.Join(",", texts), Index = texts.Count, Payload = ByteString.CopyFrom(payload.ToArray()) };
    }

    public override async Task Chat(IAsyncStreamReader<EchoRequest> requestStream, IServerStreamWriter<EchoReply> responseStream, ServerCallContext context)
    {
        Started.TrySetResult();
        await EchoMetadataAsync(context);
        int index = 0;
        try
        {
            await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
            {
                await DelayAsync(request, context);
                Fail(request);
                await responseStream.WriteAsync(new EchoReply { Text = request.Text, Index = index++, Payload = request.Payload });
            }
        }
        catch (OperationCanceledException)
        {
            Cancelled.TrySetResult(context.Method);
            throw;
        }
    }

    /// <summary>Request metadata whose key starts with "x-" comes back in the response headers and the trailers.</summary>
    private static async Task EchoMetadataAsync(ServerCallContext context)
    {
        var echoed = new Metadata();
        foreach (var entry in context.RequestHeaders.Where(e => e.Key.StartsWith("x-", StringComparison.Ordinal)))
        {
            if (entry.IsBinary)
            {
                echoed.Add(entry.Key, entry.ValueBytes);
                context.ResponseTrailers.Add(entry.Key, entry.ValueBytes);
            }
            else
            {
                echoed.Add(entry.Key, entry.Value);
                context.ResponseTrailers.Add(entry.Key, entry.Value);
            }
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

    /// <summary>
    /// "throw:KIND" in the text throws an exception of that kind, as a handler with a bug or a bad argument would
    /// (our server only: it tests the status mapping of the host).
    /// </summary>
    private static void Throw(EchoRequest request)
    {
        switch (request.Text)
        {
            case "throw:argument": throw new ArgumentException("steps must be 1 .. 1000");
            case "throw:missing": throw new KeyNotFoundException("no job 42");
            case "throw:device": throw new Onnx.DeviceUnavailableException(Onnx.Device.Parse("cuda:0"), "cuda:0: install CUDA 13");
            case "throw:unsupported": throw new NotSupportedException("no such thing");
            case "throw:bug": throw new NullReferenceException("secret internals");
        }
    }

    private static void Fail(EchoRequest request)
    {
        if (request.FailCode != 0) throw new RpcException(new Status((StatusCode)request.FailCode, request.FailMessage));
    }
}
