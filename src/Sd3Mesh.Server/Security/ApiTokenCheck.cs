using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Sd3Mesh.Server.Grpc;

namespace Sd3Mesh.Server.Security;

/// <summary>
/// Lets a request through only with <c>authorization: Bearer TOKEN</c> (<see cref="ApiToken"/>), or, on the web endpoint,
/// the dashboard's sign-in cookie (<see cref="CookieName"/>: <see cref="ApiToken.CookieValue"/>, set by POST /login):
/// gRPC calls without it end UNAUTHENTICATED, pages 401, and a browser asking for a page is sent to /login. Health stays
/// open (grpc.health.v1.Health, GET /healthz: probes carry no token), and so do the silos' own tensor transport and the
/// sign-in page with its stylesheet. Neither the token nor what a client presented is ever logged.
/// </summary>
public sealed class ApiTokenCheck(RequestDelegate next, ApiToken token)
{
    public const string Refusal = "this server requires an API token: send \"authorization: Bearer TOKEN\" " +
                                  "(sd3mesh clients: set SD3MESH_TOKEN or pass --token-file)";
    public const string CookieName = "sd3mesh-dashboard";

    private static readonly string[] OpenPaths = ["/grpc.health.v1.Health/", "/sd3mesh.v1.TensorTransport/", "/healthz", "/login",
        "/dashboard.css", "/favicon.svg"];

    public Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        if (OpenPaths.Any(p => path.StartsWith(p, StringComparison.Ordinal)) || Presented(context.Request) is { } presented && token.Matches(presented)
            || context.Request.Cookies[CookieName] is { } cookie && token.MatchesCookie(cookie))
            return next(context);
        if (GrpcStatusResponse.IsGrpc(context.Request))
            return GrpcStatusResponse.WriteAsync(context, StatusCode.Unauthenticated, Refusal);
        if (HttpMethods.IsGet(context.Request.Method) && context.Request.Headers.Accept.ToString().Contains("text/html", StringComparison.Ordinal))
        {
            context.Response.Redirect("/login"); // a browser opening the dashboard signs in first
            return Task.CompletedTask;
        }
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers[HeaderNames.WWWAuthenticate] = "Bearer";
        return context.Response.WriteAsync(Refusal + "\n");
    }

    private static string? Presented(HttpRequest request) =>
        request.Headers.Authorization.ToString() is { } header && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? header["Bearer ".Length..].Trim()
            : null;
}
