namespace Sd3Mesh.Rpc;

/// <summary>Names and rules of gRPC over HTTP/2 (grpc/grpc doc/PROTOCOL-HTTP2.md).</summary>
public static class GrpcProtocol
{
    public const string ContentType = "application/grpc";
    public const string TimeoutHeader = "grpc-timeout";
    public const string EncodingHeader = "grpc-encoding";
    public const string AcceptEncodingHeader = "grpc-accept-encoding";
    public const string StatusHeader = "grpc-status";
    public const string MessageHeader = "grpc-message";
    public const string StatusDetailsHeader = "grpc-status-details-bin";
    public const string BinarySuffix = "-bin";

    /// <summary>1-byte compressed flag + 4-byte big-endian length.</summary>
    public const int MessagePrefixSize = 5;

    /// <summary>The default for both directions' message size limits.</summary>
    public const int DefaultMaxMessageSize = 64 * 1024 * 1024;

    /// <summary>"application/grpc" and "application/grpc+proto" (the only payload format we speak).</summary>
    public static bool IsGrpcContentType(string? contentType)
    {
        var value = MediaType(contentType);
        return value.Equals(ContentType, StringComparison.OrdinalIgnoreCase)
            || value.Equals(ContentType + "+proto", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Any gRPC content type: application/grpc or application/grpc+FORMAT (+json included, application/grpc-web
    /// not). A server answers anything else with 415; these are gRPC calls, answered with a gRPC status.
    /// </summary>
    public static bool IsAnyGrpcContentType(string? contentType)
    {
        var value = MediaType(contentType);
        return value.Equals(ContentType, StringComparison.OrdinalIgnoreCase)
            || value.StartsWith(ContentType + "+", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The media type without its parameters ("; charset=..."), trimmed; empty for none.</summary>
    private static ReadOnlySpan<char> MediaType(string? contentType)
    {
        var value = contentType.AsSpan();
        int semicolon = value.IndexOf(';');
        return (semicolon >= 0 ? value[..semicolon] : value).Trim();
    }

    /// <summary>
    /// Headers that are protocol, not application metadata: pseudo-headers, grpc-* (reserved for gRPC;
    /// grpc-status-details-bin is exposed separately), and HTTP's own headers (content-type, te, date, ...).
    /// They are never handed to applications as metadata and never sent from application metadata.
    /// </summary>
    public static bool IsReservedHeader(string name) =>
        name.StartsWith(':')
        || name.StartsWith("grpc-", StringComparison.OrdinalIgnoreCase)
        || name.Equals("content-type", StringComparison.OrdinalIgnoreCase)
        || name.Equals("te", StringComparison.OrdinalIgnoreCase)
        || name.Equals("host", StringComparison.OrdinalIgnoreCase)
        || name.Equals("content-length", StringComparison.OrdinalIgnoreCase)
        || name.Equals("connection", StringComparison.OrdinalIgnoreCase)
        || name.Equals("transfer-encoding", StringComparison.OrdinalIgnoreCase)
        || name.Equals("keep-alive", StringComparison.OrdinalIgnoreCase)
        || name.Equals("upgrade", StringComparison.OrdinalIgnoreCase)
        || name.Equals("accept-encoding", StringComparison.OrdinalIgnoreCase)
        || name.Equals("date", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The status a client reports for an HTTP response without grpc-status
    /// (grpc/grpc doc/http-grpc-status-mapping.md). 200 maps to UNKNOWN: a real OK carries grpc-status.
    /// </summary>
    public static StatusCode StatusFromHttp(int httpStatus) => httpStatus switch
    {
        400 => StatusCode.Internal,
        401 => StatusCode.Unauthenticated,
        403 => StatusCode.PermissionDenied,
        404 => StatusCode.Unimplemented,
        429 or 502 or 503 or 504 => StatusCode.Unavailable,
        431 => StatusCode.Internal,
        _ => StatusCode.Unknown,
    };

    /// <summary>The status for an HTTP/2 RST_STREAM error code received instead of trailers.</summary>
    public static StatusCode StatusFromHttp2Error(long errorCode) => errorCode switch
    {
        0x7 => StatusCode.Unavailable,        // REFUSED_STREAM: nothing was processed, safe to retry
        0x8 => StatusCode.Cancelled,          // CANCEL
        0xb => StatusCode.ResourceExhausted,  // ENHANCE_YOUR_CALM
        0xc => StatusCode.PermissionDenied,   // INADEQUATE_SECURITY
        _ => StatusCode.Internal,
    };
}
