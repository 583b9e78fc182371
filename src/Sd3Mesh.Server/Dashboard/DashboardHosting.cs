using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.Metrics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Metrics;
using Sd3Mesh.Server.Cluster;
using Sd3Mesh.Server.Jobs;

namespace Sd3Mesh.Server.Dashboard;

/// <summary>
/// Observability on a silo's host: the job service's and the grain runtime's instruments exported by OpenTelemetry in
/// Prometheus' text format at /metrics, and on the primary the dashboard (<see cref="DashboardEndpoints"/>). Both are
/// served on the HTTP/1.1 endpoint only when the host has one.
/// </summary>
public static class DashboardHosting
{
    /// <summary>The name OpenTelemetry's listener goes by among the host's metrics listeners.</summary>
    public const string OpenTelemetryListener = "OpenTelemetry";

    public static IServiceCollection AddSd3MeshObservability(this IServiceCollection services, string siloId, DashboardOptions? options = null)
    {
        services.AddMetrics(metrics =>
        {
            // This host's meters only (MeterScope.Local: made by its own IMeterFactory), so that in a process hosting
            // several silos (tests, benchmarks) each silo's /metrics holds its own series. Enabled here rather than by
            // AddMeter, which would listen to every meter of that name in the process.
            foreach (var meter in new[] { JobMetrics.MeterName, RuntimeMetrics.MeterName })
                metrics.EnableMetrics(meter, instrumentName: null, listenerName: OpenTelemetryListener, MeterScope.Local);
        });
        services.AddSingleton(sp => new JobMetrics(sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), siloId));
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("sd3mesh", serviceVersion: Cluster.SiloInfo.Version, serviceInstanceId: siloId))
            // Every scrape sees the values of now (the exporter would otherwise answer from a 300 ms cache).
            .WithMetrics(metrics => metrics.AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));

        services.AddSingleton(options ?? new DashboardOptions());
        services.TryAddSingleton<IGrainActivations, NoActivations>();
        services.AddSingleton(sp => new ClusterPictures(sp.GetRequiredService<IClusterView>(), sp.GetRequiredService<IGrainActivations>(),
            sp.GetService<ClusterConfig>()?.Name ?? siloId));
        services.AddSingleton<DashboardFeed>();
        return services;
    }

    /// <param name="dashboard">the page and its JSON endpoints too (the primary, which has the jobs)</param>
    public static WebApplication MapSd3MeshObservability(this WebApplication app, bool dashboard)
    {
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapSignIn(home: dashboard ? "/" : $"{ClusterSilo.OrleansDashboardPath}/");
        if (dashboard) app.MapSd3MeshDashboard();
        return app;
    }
}
