using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Net.Client;
using Sd3Mesh.Protos.V1;
using TransportApi = Sd3Mesh.Protos.V1.Transport;

namespace Sd3Mesh.Server.Transport;

/// <summary>
/// Grain calls to another silo over one Transport.Exchange stream: each call's tensors go out as
/// chunked frames, the answer's frames are reassembled and checked. Calls may overlap; their frames
/// do not interleave on the way out.
/// </summary>
public sealed class TransportClient : IAsyncDisposable
{
    private readonly AsyncDuplexStreamingCall<TransportFrame, TransportFrame> _call;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<IReadOnlyList<NamedTensor>>> _pending = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly int _chunkBytes;
    private readonly Task _reader;
    private long _nextCallId;

    public TransportClient(GrpcChannel channel, int chunkBytes = TensorFrames.DefaultChunkBytes)
    {
        _chunkBytes = chunkBytes;
        _call = new TransportApi.TransportClient(channel).Exchange();
        _reader = Task.Run(ReadAsync);
    }

    /// <summary>
    /// One grain call. Cancelling it stops the wait for its answer (which is then dropped); it never stops
    /// its frames halfway, as a half-sent call would break the stream for every other call on it.
    /// </summary>
    public async Task<IReadOnlyList<NamedTensor>> CallAsync(string grain, string method, IReadOnlyList<NamedTensor> inputs,
        CancellationToken cancellationToken = default)
    {
        var callId = Interlocked.Increment(ref _nextCallId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var answer = new TaskCompletionSource<IReadOnlyList<NamedTensor>>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[callId] = answer;
        if (_reader.IsCompleted) Fail(new RpcException(new Status(StatusCode.Unavailable, "the transport stream has ended")));
        try
        {
            await SendAsync(callId, grain, method, inputs, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
            return await answer.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _pending.TryRemove(callId, out _);
            throw;
        }
    }

    /// <summary>Writes a call's frames, none of them if it is cancelled before its turn, else all of them.</summary>
    private async Task SendAsync(string callId, string grain, string method, IReadOnlyList<NamedTensor> inputs, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var frame in TransportFrames.Encode(callId, grain, method, inputs, _chunkBytes))
                await _call.RequestStream.WriteAsync(frame, CancellationToken.None).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            // The stream failed: this call's answer says why (the reader fails the other pending calls).
            if (_pending.TryRemove(callId, out var answer)) answer.TrySetException(e);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task ReadAsync()
    {
        var reader = new TransportFrameReader();
        try
        {
            await foreach (var frame in _call.ResponseStream.ReadAllAsync().ConfigureAwait(false))
            {
                if (reader.Accept(frame) is not { } call) continue;
                if (!_pending.TryRemove(call.Header.CallId, out var answer)) continue;
                if (call.Header.ErrorCode != 0)
                    answer.TrySetException(new RpcException(new Status((StatusCode)call.Header.ErrorCode, call.Header.ErrorMessage)));
                else
                    answer.TrySetResult(call.Tensors());
            }
            Fail(new RpcException(new Status(StatusCode.Unavailable, "the transport stream ended")));
        }
        catch (Exception e)
        {
            Fail(e as RpcException ?? new RpcException(new Status(StatusCode.Internal, e.Message, e)));
        }
    }

    private void Fail(Exception error)
    {
        foreach (var id in _pending.Keys)
            if (_pending.TryRemove(id, out var answer)) answer.TrySetException(error);
    }

    public async ValueTask DisposeAsync()
    {
        try { await _call.RequestStream.CompleteAsync().ConfigureAwait(false); } catch (RpcException) { }
        try { await _reader.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); } catch (TimeoutException) { }
        _call.Dispose();
    }
}
