namespace Sd3Mesh.Rpc;

/// <summary>The status a handler's exception becomes.</summary>
public static class StatusMapping
{
    /// <summary>
    /// Maps an exception: RpcException keeps its status; argument errors are INVALID_ARGUMENT, missing
    /// things NOT_FOUND, cancellation CANCELLED, timeouts DEADLINE_EXCEEDED, not implemented/supported
    /// UNIMPLEMENTED, access PERMISSION_DENIED, memory RESOURCE_EXHAUSTED. Anything else is a bug on
    /// our side: INTERNAL with a message that names only the exception type (its text may hold
    /// internals) unless <paramref name="includeDetails"/>; <paramref name="unexpected"/> says to log it.
    /// </summary>
    public static Status FromException(Exception exception, bool includeDetails, out bool unexpected)
    {
        unexpected = false;
        switch (exception)
        {
            case RpcException rpc: return rpc.Status;
            case ArgumentException or TensorFrameException: return new Status(StatusCode.InvalidArgument, exception.Message);
            case KeyNotFoundException or FileNotFoundException or DirectoryNotFoundException:
                return new Status(StatusCode.NotFound, exception.Message);
            case TimeoutException: return new Status(StatusCode.DeadlineExceeded, exception.Message);
            case OperationCanceledException: return new Status(StatusCode.Cancelled, "the call was cancelled");
            case NotImplementedException or NotSupportedException:
                return new Status(StatusCode.Unimplemented, exception.Message);
            case UnauthorizedAccessException: return new Status(StatusCode.PermissionDenied, exception.Message);
            case OutOfMemoryException or InsufficientMemoryException:
                return new Status(StatusCode.ResourceExhausted, "out of memory");
        }
        unexpected = true;
        return new Status(StatusCode.Internal, includeDetails
            ? $"{exception.GetType().Name}: {exception.Message}"
            : $"internal error ({exception.GetType().Name}); details are in the server log");
    }
}
