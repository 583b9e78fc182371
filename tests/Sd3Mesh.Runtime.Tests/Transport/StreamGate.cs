using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Sd3Mesh.Runtime.Tests.Transport;

/// <summary>
/// A server interceptor that, once armed, holds the next server stream after it has written a number of frames,
/// until released or until the call is cancelled (the reader cancelled, or the deadline passed): the tests' way to
/// stop a tensor stream halfway at a known point.
/// </summary>
public sealed class StreamGate : Interceptor
{
    private Hold? _armed;

    /// <summary>Holds the next server stream; disposing the hold disarms the gate (if no stream took it) and releases the stream.</summary>
    public Hold Arm(int afterFrames) => _armed = new Hold(this, afterFrames);

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation) =>
        Interlocked.Exchange(ref _armed, null) is { } hold
            ? continuation(request, new HeldWriter<TResponse>(responseStream, hold, context.CancellationToken), context)
            : continuation(request, responseStream, context);

    public sealed class Hold(StreamGate gate, int afterFrames) : IDisposable
    {
        public int AfterFrames { get; } = afterFrames;
        /// <summary>The stream has written its frames and waits.</summary>
        public TaskCompletionSource Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        /// <summary>The call's token fired on the server while the stream waited.</summary>
        public TaskCompletionSource ServerCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Dispose()
        {
            Interlocked.CompareExchange(ref gate._armed, null, this);
            Release.TrySetResult();
        }
    }

    private sealed class HeldWriter<T>(IServerStreamWriter<T> inner, Hold hold, CancellationToken call) : IServerStreamWriter<T>
    {
        private int _written;

        public WriteOptions? WriteOptions { get => inner.WriteOptions; set => inner.WriteOptions = value; }

        public Task WriteAsync(T message) => WriteAsync(message, CancellationToken.None);

        public async Task WriteAsync(T message, CancellationToken cancellationToken)
        {
            await inner.WriteAsync(message, cancellationToken);
            if (++_written != hold.AfterFrames) return;
            hold.Reached.TrySetResult();
            try
            {
                await hold.Release.Task.WaitAsync(call);
            }
            catch (OperationCanceledException)
            {
                hold.ServerCancelled.TrySetResult();
                throw;
            }
        }
    }
}
