using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sd3Mesh.Runtime.Catalog;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Hosting;
using Orleans.Dashboard;
using Sd3Mesh.Server.Cluster;
using Sd3Mesh.Server.Dashboard;
using Sd3Mesh.Server.Jobs;
using Microsoft.Extensions.Hosting;
using IGrainFactory = Orleans.IGrainFactory;

namespace Sd3Mesh.Server;

/// <summary>
/// One silo of a cluster config as a process runs it (`sd3mesh silo`, `cluster up`, `serve`, the embedded silo of a
/// local `generate`): an Orleans silo owning its devices, on the same Generic Host as its gRPC endpoint (the tensor
/// transport; on the primary also the public API, with jobs run by <see cref="ClusterJobExecutor"/>) and an HTTP/1.1
/// endpoint when the config gives the silo a web port: /metrics, the Orleans dashboard at /orleans, and on the primary
/// our dashboard at /.
/// </summary>
public static class ClusterSilo
{
    /// <summary>Where a silo's web endpoint serves the Orleans dashboard.</summary>
    public const string OrleansDashboardPath = "/orleans";

    /// <param name="runtime">how sessions are made; the model when the caller opened it already</param>
    /// <param name="listen">where the gRPC endpoint listens instead of the config's host:grpc_port (`serve --listen 0.0.0.0:PORT`)</param>
    /// <param name="decorate">wraps the executor (tests hold a job at a chosen step with it)</param>
    public static SiloHost Create(ClusterConfig config, string siloName, SiloHostOptions? options = null, SiloRuntimeOptions? runtime = null,
        string? listen = null, Func<IJobExecutor, IJobExecutor>? decorate = null)
    {
        var spec = config.Silo(siloName);
        options ??= new SiloHostOptions();
        options.SiloId = spec.Name;
        options.Listen = listen ?? $"{spec.Host}:{spec.GrpcPort}"; // port 0 (an embedded silo): any free port
        options.HttpListen ??= spec.WebPort > 0 ? $"{spec.Host}:{spec.WebPort}" : null;
        options.PublicApi = spec.Primary;
        options.MaxJobsInFlight = config.Jobs.MaxInFlight;
        options.MaxQueuedJobs = config.Jobs.QueueCapacity;
        options.MaxQueuedJobsPerClient = config.Jobs.ClientQueueCapacity;
        options.Store ??= spec.Primary ? config.Store : null; // the primary runs the jobs, so it keeps them
        decorate ??= e => e;
        return new SiloHost(provider => decorate(new ClusterJobExecutor(provider.GetRequiredService<IGrainFactory>(), provider.GetRequiredService<ModelCatalog>(),
            provider.GetRequiredService<ILogger<ClusterJobExecutor>>())),
            options, configure: builder =>
            {
                // The Orleans dashboard on every silo (its per-silo pages ask each silo), mapped where there is a web endpoint.
                ((IHostApplicationBuilder)builder).UseOrleans(silo => silo.UseSd3MeshSilo(config, spec, runtime).AddDashboard());
                builder.Services.AddSingleton<IClusterView, OrleansClusterView>();
                builder.Services.AddSingleton<IGrainActivations, OrleansGrainActivations>();
            }, map: app => app.MapOrleansDashboard(OrleansDashboardPath));
    }
}
