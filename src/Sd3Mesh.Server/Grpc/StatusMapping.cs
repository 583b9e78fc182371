using System.Text;
using Grpc.Core;
using Sd3Mesh.Onnx;

namespace Sd3Mesh.Server.Grpc;

/// <summary>The status a handler's exception becomes (applied to every call by <see cref="StatusInterceptor"/>).</summary>
public static class StatusMapping
{
    /// <summary>
    /// Maps an exception: RpcException keeps its status; argument errors are INVALID_ARGUMENT, missing things
    /// NOT_FOUND, a device this machine cannot use FAILED_PRECONDITION,
    /// cancellation CANCELLED, timeouts DEADLINE_EXCEEDED, not implemented/supported UNIMPLEMENTED, access
    /// PERMISSION_DENIED, memory RESOURCE_EXHAUSTED. Anything else is a bug on our side: INTERNAL with a
    /// message that names only the exception type (its text may hold internals); <paramref name="unexpected"/>
    /// says to log it.
    /// </summary>
    public static Status FromException(Exception exception, out bool unexpected)
    {
        unexpected = false;
        switch (exception)
        {
            case RpcException rpc: return rpc.Status;
            case ArgumentException: return new Status(StatusCode.InvalidArgument, exception.Message);
            case KeyNotFoundException or FileNotFoundException or DirectoryNotFoundException:
                return new Status(StatusCode.NotFound, exception.Message);
            case DeviceUnavailableException: return new Status(StatusCode.FailedPrecondition, exception.Message);
            case TimeoutException: return new Status(StatusCode.DeadlineExceeded, exception.Message);
            case OperationCanceledException: return new Status(StatusCode.Cancelled, "the call was cancelled");
            case NotImplementedException or NotSupportedException: return new Status(StatusCode.Unimplemented, exception.Message);
            case UnauthorizedAccessException: return new Status(StatusCode.PermissionDenied, exception.Message);
            case OutOfMemoryException or InsufficientMemoryException: return new Status(StatusCode.ResourceExhausted, "out of memory");
        }
        unexpected = true;
        return new Status(StatusCode.Internal, $"internal error ({exception.GetType().Name}); details are in the server log");
    }

    /// <summary>The code as the gRPC spec writes it: RESOURCE_EXHAUSTED for ResourceExhausted.</summary>
    public static string Name(this StatusCode code)
    {
        var text = code.ToString();
        var name = new StringBuilder(text.Length + 4);
        for (int i = 0; i < text.Length; i++)
        {
            if (i > 0 && char.IsUpper(text[i])) name.Append('_');
            name.Append(char.ToUpperInvariant(text[i]));
        }
        return name.ToString();
    }

    /// <summary>"NOT_FOUND: no job 'x'" (the code alone when there is no detail).</summary>
    public static string Describe(this Status status) =>
        status.Detail.Length == 0 ? status.StatusCode.Name() : $"{status.StatusCode.Name()}: {status.Detail}";
}
