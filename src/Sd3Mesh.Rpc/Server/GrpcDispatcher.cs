using System.Globalization;
using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Sd3Mesh.Rpc;

/// <summary>
/// The gRPC endpoint as an ASP.NET Core request delegate: checks that a request is a gRPC call,
/// routes it by path to its method's call handler, counts in-flight calls and refuses new ones
/// while draining. Requests that are not gRPC get the HTTP answers the spec asks for (405, 415, 426).
/// </summary>
public sealed class GrpcDispatcher
{
    private readonly Dictionary<string, ServerCallHandler> _handlers = new(StringComparer.Ordinal);
    private readonly List<ServiceDescriptor> _services = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly ServerCallEnvironment _env;
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _inFlight;
    private volatile bool _draining;

    public GrpcDispatcher(GrpcServerOptions options)
    {
        Options = options;
        _env = new ServerCallEnvironment(options, options.LoggerFactory.CreateLogger("Sd3Mesh.Rpc.Server"), _stopping.Token);
    }

    public GrpcServerOptions Options { get; }
    /// <summary>Every service with at least one mapped method, in mapping order.</summary>
    public IReadOnlyList<ServiceDescriptor> Services => _services;
    public int InFlightCalls => Volatile.Read(ref _inFlight);
    public bool IsDraining => _draining;

    internal void Add(ServerCallHandler handler)
    {
        if (!_handlers.TryAdd(handler.Path, handler))
            throw new InvalidOperationException($"{handler.Path} is already mapped");
        if (handler.Descriptor?.Service is { } service && !_services.Contains(service))
            _services.Add(service);
    }

    public async Task HandleAsync(HttpContext http)
    {
        var request = http.Request;
        if (!HttpMethods.IsPost(request.Method))
        {
            http.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            http.Response.Headers.Allow = "POST";
            return;
        }
        if (!GrpcProtocol.IsAnyGrpcContentType(request.ContentType))
        {
            // 415 keeps a plain HTTP client from reading the error as success (a gRPC error is a 200).
            WriteEarlyStatus(http, StatusCodes.Status415UnsupportedMediaType, new Status(StatusCode.Internal,
                $"content-type '{request.ContentType}' is not supported: gRPC calls use {GrpcProtocol.ContentType} or {GrpcProtocol.ContentType}+proto"));
            return;
        }
        if (!HttpProtocol.IsHttp2(request.Protocol) && !HttpProtocol.IsHttp3(request.Protocol))
        {
            WriteEarlyStatus(http, StatusCodes.Status426UpgradeRequired,
                new Status(StatusCode.Internal, $"gRPC needs HTTP/2, the request came over {request.Protocol}"));
            return;
        }
        if (!GrpcProtocol.IsGrpcContentType(request.ContentType))
        {
            // A gRPC call in another payload format (+json): a gRPC error; the spec keeps 415 for requests that are not gRPC.
            WriteEarlyStatus(http, StatusCodes.Status200OK, new Status(StatusCode.Internal,
                $"content-type '{request.ContentType}' is not supported: this server speaks protobuf ({GrpcProtocol.ContentType} or {GrpcProtocol.ContentType}+proto)"));
            return;
        }
        string path = request.Path.Value ?? "";
        if (!_handlers.TryGetValue(path, out var handler))
        {
            WriteEarlyStatus(http, StatusCodes.Status200OK, new Status(StatusCode.Unimplemented, UnknownMethodMessage(path)));
            return;
        }

        Interlocked.Increment(ref _inFlight);
        try
        {
            if (_draining)
            {
                WriteEarlyStatus(http, StatusCodes.Status200OK,
                    new Status(StatusCode.Unavailable, "the server is shutting down; retry on another server"));
                return;
            }
            await handler.HandleCallAsync(http, _env).ConfigureAwait(false);
        }
        finally
        {
            if (Interlocked.Decrement(ref _inFlight) == 0 && _draining) _drained.TrySetResult();
        }
    }

    /// <summary>
    /// Refuses new calls (UNAVAILABLE), waits up to <paramref name="timeout"/> for in-flight calls to end,
    /// then cancels the rest (their handlers' tokens fire; they end UNAVAILABLE) and waits for them.
    /// Returns true when every call ended by itself.
    /// </summary>
    public async Task<bool> DrainAsync(TimeSpan timeout)
    {
        _draining = true;
        if (InFlightCalls == 0) _drained.TrySetResult();
        bool finished = await WaitAsync(_drained.Task, timeout).ConfigureAwait(false);
        if (!finished)
        {
            _env.Logger.LogWarning("{Count} calls still running after the drain timeout of {Timeout}: cancelling them",
                InFlightCalls, timeout);
            await _stopping.CancelAsync().ConfigureAwait(false);
            await WaitAsync(_drained.Task, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        return finished;
    }

    private static async Task<bool> WaitAsync(Task task, TimeSpan timeout)
    {
        if (task.IsCompleted) return true;
        if (timeout <= TimeSpan.Zero) return false;
        return await Task.WhenAny(task, Task.Delay(timeout)).ConfigureAwait(false) == task;
    }

    private string UnknownMethodMessage(string path)
    {
        var parts = path.TrimStart('/').Split('/');
        if (parts.Length != 2) return $"'{path}' is not a gRPC method path (/package.Service/Method)";
        return _services.Any(s => s.FullName == parts[0])
            ? $"unknown method {parts[1]} of service {parts[0]}"
            : $"unknown service {parts[0]}";
    }

    /// <summary>A trailers-only response for a call refused before any handler ran.</summary>
    private static void WriteEarlyStatus(HttpContext http, int httpStatus, Status status)
    {
        var response = http.Response;
        response.StatusCode = httpStatus;
        response.ContentType = GrpcProtocol.ContentType;
        response.Headers[GrpcProtocol.StatusHeader] = ((int)status.Code).ToString(CultureInfo.InvariantCulture);
        response.Headers[GrpcProtocol.MessageHeader] = PercentEncoding.Encode(status.Detail);
        response.Headers[GrpcProtocol.AcceptEncodingHeader] = MessageCompression.AcceptEncoding;
    }
}
