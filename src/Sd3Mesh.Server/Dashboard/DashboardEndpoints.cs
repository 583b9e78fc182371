using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Sd3Mesh.Server.Jobs;

namespace Sd3Mesh.Server.Dashboard;

/// <summary>
/// The dashboard on the primary's HTTP/1.1 endpoint: the page at / (plain HTML, CSS and JS embedded in this assembly:
/// nothing is fetched from elsewhere) and the JSON endpoints behind it (docs/dashboard.md). Errors answer with
/// {"error": "..."} naming what was not found or not allowed.
/// </summary>
public static class DashboardEndpoints
{
    public static IEndpointRouteBuilder MapSd3MeshDashboard(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", (HttpResponse response) =>
        {
            response.Headers.ContentSecurityPolicy = PagePolicy;
            return Asset("index.html", "text/html; charset=utf-8");
        });
        app.MapGet("/dashboard.js", () => Asset("dashboard.js", "text/javascript; charset=utf-8"));
        app.MapGet("/dashboard.css", () => Asset("dashboard.css", "text/css; charset=utf-8"));
        app.MapGet("/favicon.svg", () => Asset("favicon.svg", "image/svg+xml"));

        app.MapGet("/api/cluster", async (ClusterPictures cluster, CancellationToken ct) =>
            TypedResults.Json(await cluster.BuildAsync(ct), DashboardJson.Options));
        app.MapGet("/api/jobs", (JobStore store) => TypedResults.Json(new JobsPicture(DateTime.UtcNow, JobViews.List(store)), DashboardJson.Options));
        app.MapGet("/api/jobs/{id}", (string id, JobStore store) =>
            store.Find(id) is { } job ? TypedResults.Json(JobViews.Of(job), DashboardJson.Options) : NoJob(id));
        app.MapPost("/api/jobs/{id}/cancel", Cancel);
        app.MapGet("/api/jobs/{id}/preview.png", (string id, JobStore store) => store.Find(id) switch
        {
            null => NoJob(id),
            { LatestPreview: { } p } => Results.Bytes(p.Preview.Data.ToByteArray(), p.Preview.MediaType),
            _ => Error(StatusCodes.Status404NotFound, $"job '{id}' has no preview (it asked for none, has not reached a preview step, or its previews were dropped)"),
        });
        app.MapGet("/api/jobs/{id}/timeline", (string id, JobStore store) =>
            store.Find(id) is { } job ? TypedResults.Json(Timelines.Of(job), DashboardJson.Options) : NoJob(id));
        app.MapGet("/api/jobs/{id}/trace.json", (string id, JobStore store) =>
            store.Find(id) is { } job
                ? Results.File(Timelines.ChromeTrace(job), "application/json", $"sd3mesh-job-{job.Id}.trace.json")
                : NoJob(id));
        app.MapGet("/api/images/{id}", (string id, JobStore store) =>
        {
            try
            {
                var image = store.GetImage(id);
                string extension = image.Image.MediaType == JobImage.Png ? "png" : "npy";
                return Results.File(image.Image.Data, image.Image.MediaType, $"{image.Id}.{extension}");
            }
            catch (Exception e) when (e is KeyNotFoundException or ArgumentException)
            {
                return Error(StatusCodes.Status404NotFound, e.Message);
            }
        });
        app.MapGet("/api/events", (DashboardFeed feed, CancellationToken ct) => TypedResults.ServerSentEvents(feed.SubscribeAsync(ct)));
        return app;
    }

    /// <summary>
    /// Sign-in for a server with an API token (see <see cref="Security.ApiTokenCheck"/>): GET /login is a form, POST /login
    /// with the token sets the sign-in cookie (HttpOnly, SameSite=Strict: never sent by another site's page) and goes on
    /// to <paramref name="home"/>. Without a token there is nothing to sign in to.
    /// </summary>
    public static IEndpointRouteBuilder MapSignIn(this IEndpointRouteBuilder app, string home)
    {
        app.MapGet("/login", (HttpResponse response) => SignInPage(response, ""));
        app.MapPost("/login", async (HttpContext context, SiloHostOptions options) =>
        {
            if (options.ApiToken is not { } token) return Results.Redirect(home);
            if (!context.Request.HasFormContentType)
                return Error(StatusCodes.Status415UnsupportedMediaType, "login: send the form (application/x-www-form-urlencoded, field 'token')");
            var form = await context.Request.ReadFormAsync(context.RequestAborted);
            if (form["token"].ToString() is not { Length: > 0 } presented || !token.Matches(presented))
                return SignInPage(context.Response, "That is not this server's API token.", StatusCodes.Status401Unauthorized);
            context.Response.Cookies.Append(Security.ApiTokenCheck.CookieName, token.CookieValue, new CookieOptions
            {
                HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = context.Request.IsHttps, Path = "/",
            });
            return Results.Redirect(home);
        });
        return app;
    }

    private static IResult SignInPage(HttpResponse response, string message, int status = StatusCodes.Status200OK)
    {
        response.Headers.ContentSecurityPolicy = PagePolicy;
        string page = System.Text.Encoding.UTF8.GetString(Assets.GetOrAdd("login.html", Read))
            .Replace("<!--message-->", System.Net.WebUtility.HtmlEncode(message), StringComparison.Ordinal);
        return Results.Content(page, "text/html; charset=utf-8", System.Text.Encoding.UTF8, status);
    }

    /// <summary>The pages load only their own files and this server's JSON, images and events.</summary>
    private const string PagePolicy = "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; " +
                                      "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

    /// <summary>
    /// Cancels a queued or running job. Only a request with Content-Type application/json is taken: a page of another
    /// site cannot send one without the browser asking this server first (CORS), which it does not allow.
    /// </summary>
    private static IResult Cancel(string id, HttpRequest request, JobScheduler scheduler)
    {
        if (!(request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) ?? false))
            return Error(StatusCodes.Status415UnsupportedMediaType, $"cancel: Content-Type must be application/json (got '{request.ContentType}')");
        if (scheduler.Store.Find(id) is not { } job) return NoJob(id);
        bool cancelled = scheduler.Cancel(id, "cancelled from the dashboard");
        return TypedResults.Json(new { cancelled, state = JobMetrics.Name(job.State) }, DashboardJson.Options);
    }

    private static IResult NoJob(string id) => Error(StatusCodes.Status404NotFound, $"no job '{id}' (unknown, or dropped from the history)");

    private static IResult Error(int status, string message) => TypedResults.Json(new { error = message }, DashboardJson.Options, statusCode: status);

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> Assets = new(StringComparer.Ordinal);

    /// <summary>An embedded file of the page, read from the assembly once.</summary>
    private static IResult Asset(string name, string contentType) => Results.Bytes(Assets.GetOrAdd(name, Read), contentType);

    private static byte[] Read(string name)
    {
        using var stream = typeof(DashboardEndpoints).Assembly.GetManifestResourceStream($"dashboard/{name}")
            ?? throw new InvalidOperationException($"the dashboard asset '{name}' is not embedded in {typeof(DashboardEndpoints).Assembly.GetName().Name}");
        using var bytes = new MemoryStream();
        stream.CopyTo(bytes);
        return bytes.ToArray();
    }
}
