using Grpc.Health.V1;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Sd3Mesh.Rpc.Health;

/// <summary>
/// grpc.health.v1.Health: a status per service name ("" = the whole server), settable by the host.
/// Check answers NOT_FOUND for an unknown name; Watch sends the current status (SERVICE_UNKNOWN for an
/// unknown name) and then every change, until the client leaves or the server shuts down.
/// </summary>
public sealed class HealthService
{
    private readonly object _gate = new();
    private readonly Dictionary<string, ServingStatus> _statuses = new(StringComparer.Ordinal);
    // Completed and replaced on every change: watchers await the current one.
    private TaskCompletionSource _changed = NewSignal();
    private bool _shutdown;

    public void SetStatus(string service, ServingStatus status)
    {
        lock (_gate)
        {
            if (_shutdown) return;
            _statuses[service] = status;
            Signal();
        }
    }

    public void ClearStatus(string service)
    {
        lock (_gate)
        {
            if (_statuses.Remove(service)) Signal();
        }
    }

    public ServingStatus? GetStatus(string service)
    {
        lock (_gate) return _statuses.TryGetValue(service, out var s) ? s : null;
    }

    /// <summary>Every service NOT_SERVING, watches sent that and ended; later SetStatus calls are ignored.</summary>
    public void Shutdown()
    {
        lock (_gate)
        {
            foreach (var key in _statuses.Keys.ToList()) _statuses[key] = ServingStatus.NotServing;
            _shutdown = true;
            Signal();
        }
    }

    public Task<HealthCheckResponse> Check(HealthCheckRequest request, ServerCallContext context)
    {
        var status = GetStatus(request.Service)
            ?? throw new RpcException(StatusCode.NotFound, $"unknown service '{request.Service}'");
        return Task.FromResult(new HealthCheckResponse { Status = status });
    }

    public async Task Watch(HealthCheckRequest request, IServerStreamWriter<HealthCheckResponse> responses, ServerCallContext context)
    {
        ServingStatus? last = null;
        while (true)
        {
            ServingStatus current;
            Task changed;
            bool ended;
            lock (_gate)
            {
                current = _statuses.TryGetValue(request.Service, out var s) ? s : ServingStatus.ServiceUnknown;
                changed = _changed.Task;
                ended = _shutdown;
            }
            if (current != last)
            {
                await responses.WriteAsync(new HealthCheckResponse { Status = current }, context.CancellationToken);
                last = current;
            }
            if (ended) return;
            await changed.WaitAsync(context.CancellationToken);
        }
    }

    private void Signal()
    {
        _changed.TrySetResult();
        _changed = NewSignal();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
