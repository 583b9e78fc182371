using System.Diagnostics;
using Grpc.Core;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Metrics;
using Sd3Mesh.Runtime.Tensors;
using Sd3Mesh.Runtime.Tracing;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Transport;

/// <summary>
/// The tensor exchange of a silo in a cluster: tensors are published into this silo's <see cref="TensorStore"/>;
/// a reference resolves inline or from this silo's store in memory, and otherwise by pulling the bytes from the
/// owner silo's <see cref="TensorTransportService"/> over gRPC (one cached channel per peer; chunks parsed by
/// <see cref="FetchFrames"/> into pooled buffers, then copied into the tensor). Every failure of a fetch is an RpcException whose status says what
/// went wrong (NOT_FOUND, DEADLINE_EXCEEDED, UNAVAILABLE, RESOURCE_EXHAUSTED, DATA_LOSS) and whose message names the
/// tensor, its size and its silo; cancellation is an OperationCanceledException. A completed fetch is counted in the
/// silo's metrics (bytes from which silo) and, inside a job's calls, is a span on the job's timeline.
/// </summary>
public sealed class GrpcTensorExchange(TensorStore store, TransportChannels channels, TensorTransportOptions options,
    RuntimeMetrics? metrics = null, JobTraces? traces = null) : ITensorExchange
{
    public string Silo => store.Silo;

    public TensorRef Publish(Tensor tensor) => store.Publish(tensor);

    public Task<Tensor> ResolveAsync(TensorRef reference, CancellationToken cancellationToken = default) =>
        TensorRefs.ResolveLocal(reference, store) is { } local ? Task.FromResult(local) : FetchAsync(reference, cancellationToken);

    private async Task<Tensor> FetchAsync(TensorRef reference, CancellationToken cancellationToken)
    {
        // The reference says what must arrive; it is checked before any byte moves.
        var name = $"{reference.Silo}/{reference.Id}";
        TensorFrameHeader expected;
        try { expected = TensorFrameHeader.Expected(name, reference.DType, reference.Shape); }
        catch (TensorFrameException e) { throw new ArgumentException($"a tensor reference that cannot be fetched: {e.Message}", nameof(reference)); }
        if (expected.TotalBytes > options.MaxTensorBytes)
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"{reference} is {Size(expected.TotalBytes)}; silo {Silo} fetches at most {Size(options.MaxTensorBytes)} " +
                "from another silo (TensorTransportOptions.MaxTensorBytes)"));
        if (!Uri.TryCreate(reference.Endpoint, UriKind.Absolute, out var endpoint) || endpoint.Scheme is not ("http" or "https"))
            throw new ArgumentException($"{reference}: silo {reference.Silo}'s endpoint '{reference.Endpoint}' is not an http(s) address", nameof(reference));

        var what = $"fetching {reference} ({ByteSize.Format(expected.TotalBytes)}) from silo {reference.Silo} at {endpoint}";
        var request = new FetchRequest { TensorId = reference.Id, MaxBytes = (ulong)options.MaxTensorBytes };
        var callOptions = new CallOptions(deadline: DateTime.UtcNow + options.FetchTimeout, cancellationToken: cancellationToken);
        long start = Stopwatch.GetTimestamp();
        try
        {
            using var call = channels.For(endpoint).CreateCallInvoker().AsyncServerStreamingCall(FetchFrames.Method, null, callOptions, request);
            var tensor = await FetchFrames.AssembleAsync(call.ResponseStream, expected, cancellationToken).ConfigureAwait(false);
            Fetched(reference, expected.TotalBytes, Stopwatch.GetElapsedTime(start));
            return tensor;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException($"{what}: cancelled", e, cancellationToken);
        }
        catch (RpcException e)
        {
            var detail = e.StatusCode == StatusCode.DeadlineExceeded ? $"not complete within the fetch timeout of {options.FetchTimeout}" : e.Status.Detail;
            throw new RpcException(new Status(e.StatusCode, $"{what}: {detail}", e.Status.DebugException));
        }
        catch (TensorFrameException e)
        {
            throw new RpcException(new Status(StatusCode.DataLoss, $"{what}: {e.Message}"));
        }
    }

    private void Fetched(TensorRef reference, long bytes, TimeSpan elapsed)
    {
        metrics?.Transfer(reference.Silo, bytes, elapsed);
        traces?.Record(TraceSpan.EndingNow($"transfers to {Silo}", Silo, SpanKind.Transfer, "fetch", elapsed) with
        {
            Bytes = bytes,
            Detail = $"{((Sd3Mesh.Tensors.DType)reference.DType).Name()} {reference.TensorShape} ({ByteSize.Format(bytes)}) from {reference.Silo}",
        });
    }

    private static string Size(long bytes) => $"{ByteSize.Format(bytes)} ({bytes} bytes)";
}
