using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Sd3Mesh.Server.Grpc;

namespace Sd3Mesh.Server.Security;

/// <summary>
/// Lets a request through only with <c>authorization: Bearer TOKEN</c> (<see cref="ApiToken"/>): gRPC calls without it
/// end UNAUTHENTICATED, pages 401. Health stays open (grpc.health.v1.Health, GET /healthz: probes carry no token), and
/// so does the silos' own tensor transport. Neither the token nor what a client presented is ever logged.
/// </summary>
public sealed class ApiTokenCheck(RequestDelegate next, ApiToken token)
{
    public const string Refusal = "this server requires an API token: send \"authorization: Bearer TOKEN\" " +
                                  "(sd3mesh clients: set SD3MESH_TOKEN or pass --token-file)";

    private static readonly string[] OpenPaths = ["/grpc.health.v1.Health/", "/sd3mesh.v1.TensorTransport/", "/healthz"];

    public Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        if (OpenPaths.Any(p => path.StartsWith(p, StringComparison.Ordinal)) || Presented(context.Request) is { } presented && token.Matches(presented))
            return next(context);
        if (GrpcStatusResponse.IsGrpc(context.Request))
            return GrpcStatusResponse.WriteAsync(context, StatusCode.Unauthenticated, Refusal);
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers[HeaderNames.WWWAuthenticate] = "Bearer";
        return context.Response.WriteAsync(Refusal + "\n");
    }

    private static string? Presented(HttpRequest request) =>
        request.Headers.Authorization.ToString() is { } header && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? header["Bearer ".Length..].Trim()
            : null;
}
