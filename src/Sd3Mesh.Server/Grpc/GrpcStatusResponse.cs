using System.Globalization;
using System.Text;
using Grpc.Core;
using Microsoft.AspNetCore.Http;

namespace Sd3Mesh.Server.Grpc;

/// <summary>
/// Ends a gRPC call from middleware, before any service sees it, as a trailers-only response (HTTP 200, content type
/// application/grpc, grpc-status and grpc-message in the headers): what every gRPC client reads as the call's status.
/// </summary>
public static class GrpcStatusResponse
{
    public static bool IsGrpc(HttpRequest request) =>
        request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true;

    public static Task WriteAsync(HttpContext context, StatusCode code, string message, Metadata? trailers = null)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/grpc";
        response.Headers["grpc-status"] = ((int)code).ToString(CultureInfo.InvariantCulture);
        response.Headers["grpc-message"] = PercentEncode(message);
        foreach (var entry in trailers ?? []) response.Headers[entry.Key] = entry.Value;
        return response.CompleteAsync();
    }

    /// <summary>grpc-message's encoding (the gRPC HTTP/2 spec): UTF-8, with bytes outside printable ASCII and '%' as %XX.</summary>
    public static string PercentEncode(string message)
    {
        var text = new StringBuilder(message.Length);
        foreach (byte b in Encoding.UTF8.GetBytes(message))
            if (b is >= 0x20 and <= 0x7e && b != (byte)'%') text.Append((char)b);
            else text.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        return text.ToString();
    }
}
