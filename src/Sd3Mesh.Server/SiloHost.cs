using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Cluster;
using Sd3Mesh.Server.Dashboard;
using Sd3Mesh.Server.Generation;
using Sd3Mesh.Server.Grpc;
using Sd3Mesh.Server.Jobs;
using Sd3Mesh.Server.Jobs.Storage;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Transport;

namespace Sd3Mesh.Server;

public sealed class SiloHostOptions : GrpcServerOptions
{
    public string SiloId { get; set; } = "silo-" + Environment.MachineName.ToLowerInvariant();
    /// <summary>Results up to this size travel inside the finished event.</summary>
    public long InlineImageLimit { get; set; } = 2 * 1024 * 1024;
    public int MaxJobs { get; set; } = 1000;
    public int MaxQueuedJobs { get; set; } = 100;
    /// <summary>Jobs one client (its sd3mesh-client-id, else its address) may have waiting.</summary>
    public int MaxQueuedJobsPerClient { get; set; } = Runtime.Config.JobLimits.DefaultClientQueueCapacity;
    /// <summary>Image and step preview bytes kept in memory; beyond, the oldest ended jobs lose theirs.</summary>
    public long MaxImageBytes { get; set; } = 1L << 30;
    /// <summary>Memory placement may use on the cpu device; null: all the process may use.</summary>
    public ulong? CpuBudgetBytes { get; set; }
    /// <summary>Jobs run at once (the grain runtime pipelines them); 1: one after another.</summary>
    public int MaxJobsInFlight { get; set; } = 1;
    /// <summary>Serve the public API (Generation, Cluster): the primary silo does, the others serve only the transport.</summary>
    public bool PublicApi { get; set; } = true;
    /// <summary>The bearer token every call but health and the tensor transport must carry (<see cref="Security.ApiToken.Resolve"/>); null: none.</summary>
    public Security.ApiToken? ApiToken { get; set; }
    /// <summary>Where jobs are kept (SQLite or PostgreSQL, and the data folder); null: in memory only.</summary>
    public StoreSpec? Store { get; set; }
}

/// <summary>
/// A silo: one .NET Generic Host (<see cref="App"/>, a WebApplication built by <see cref="GrpcHosting"/>) with
/// the public API (Generation, Cluster), health and reflection, over a job scheduler
/// that runs one job at a time on the given executor; on its HTTP/1.1 endpoint, if it has one, /metrics and (serving
/// the public API) the dashboard. Everything lives in the host's DI container, so the
/// grain runtime joins with `UseOrleans` through <c>configure</c>.
/// Stopping (StopAsync, Ctrl+C, SIGTERM) is graceful and bounded by <see cref="GrpcServerOptions.DrainTimeout"/>:
/// health turns NOT_SERVING, new jobs are refused, queued and running jobs are cancelled (their streams end
/// with a cancelled event) except submitted jobs in a durable store, which the next start goes on with, then
/// in-flight calls drain.
/// </summary>
public sealed class SiloHost : IAsyncDisposable
{
    private readonly object _gate = new();
    private Task? _stopped;
    private bool _started;

    public SiloHost(IJobExecutor executor, SiloHostOptions? options = null,
        IGrainDirectory? grains = null, IDeviceInventory? devices = null, Action<WebApplicationBuilder>? configure = null)
        : this(_ => executor, options, configure: builder =>
        {
            builder.Services.AddSingleton<IClusterView>(provider => new LocalClusterView(provider.GetRequiredService<SiloInfo>(),
                devices ?? new CpuDeviceInventory((options ?? new SiloHostOptions()).CpuBudgetBytes), grains ?? new NoGrains()));
            configure?.Invoke(builder);
        })
    {
    }

    /// <param name="executor">the executor, made from the host's services (the grain runtime's needs its grain factory)</param>
    /// <param name="configure">adds services (Orleans, an <see cref="IClusterView"/>) before the host is built</param>
    /// <param name="map">maps more endpoints once the host is built (the Orleans dashboard)</param>
    public SiloHost(Func<IServiceProvider, IJobExecutor> executor, SiloHostOptions? options, Action<WebApplicationBuilder> configure,
        Action<WebApplication>? map = null)
    {
        options ??= new SiloHostOptions();
        var builder = GrpcHosting.CreateBuilder(options);
        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(new SiloInfo(options.SiloId));
        services.AddSingleton<IJobExecutor>(executor);
        services.AddSd3MeshObservability(options.SiloId);
        // A durable store is opened, and claimed for this process, as the host starts (before anything runs): one in
        // use or out of reach fails the start (JobStoreException). Requests it kept are validated again, against the
        // model served now, when they run again.
        if (options.Store is { } store)
            services.AddSingleton(provider => JobStores.Open(store,
                request => GenerateRequests.ToSpec(request, provider.GetRequiredService<IJobExecutor>().Model), provider.GetRequiredService<ILogger<JobJournal>>()));
        services.AddSingleton(provider => new JobStore(options.MaxJobs, options.MaxImageBytes, provider.GetService<JobJournal>(),
            provider.GetRequiredService<JobMetrics>()));
        services.AddSingleton(provider => new JobScheduler(provider.GetRequiredService<IJobExecutor>(), provider.GetRequiredService<JobStore>(),
            options.MaxQueuedJobs, provider.GetRequiredService<ILogger<JobScheduler>>())
        {
            InlineImageLimit = options.InlineImageLimit,
            MaxInFlight = options.MaxJobsInFlight,
            MaxQueuedJobsPerClient = options.MaxQueuedJobsPerClient,
        });
        services.AddSingleton<GenerationService>();
        services.AddSingleton<ClusterService>();
        services.AddHostedService<SiloLifecycle>();
        services.AddHealthChecks().AddCheck<SiloHealthCheck>("silo");
        configure?.Invoke(builder);

        App = builder.Build();
        if (options.ApiToken is { } token) App.UseMiddleware<Security.ApiTokenCheck>(token);
        App.UseGrpcRequestCheck();
        if (options.PublicApi)
        {
            App.MapGrpcService<GenerationService>();
            App.MapGrpcService<ClusterService>();
        }
        // A cluster silo pulls tensors from its peers: serve this silo's (the grain runtime registered the transport).
        if (App.Services.GetRequiredService<IServiceProviderIsService>().IsService(typeof(TensorTransportService))) App.MapTensorTransport();
        App.MapStandardServices();
        if (options.HttpListen is not null)
        {
            App.MapSd3MeshObservability(dashboard: options.PublicApi);
            map?.Invoke(App);
        }
    }

    public WebApplication App { get; }
    public SiloInfo Silo => App.Services.GetRequiredService<SiloInfo>();
    public IServiceProvider Services => App.Services;
    public JobScheduler Jobs => App.Services.GetRequiredService<JobScheduler>();
    /// <summary>The gRPC endpoint's address (after StartAsync).</summary>
    public Uri Address => App.GrpcAddress();
    /// <summary>The HTTP/1.1 endpoint's address (after StartAsync); null without one.</summary>
    public Uri? HttpAddress => App.HttpAddress();
    /// <summary>The dashboard's address (after StartAsync): the HTTP/1.1 endpoint of a silo serving the public API; else null.</summary>
    public Uri? DashboardAddress => Services.GetRequiredService<SiloHostOptions>().PublicApi ? HttpAddress : null;

    /// <summary>Starts the host; the job store first, so that a store in use or out of reach fails before anything runs.</summary>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        App.Services.GetRequiredService<JobStore>();
        lock (_gate) _started = true;
        return App.StartAsync(cancellationToken);
    }

    /// <summary>Waits until the host is asked to stop (SIGINT, SIGTERM, StopApplication) or <paramref name="stop"/> fires, then stops it gracefully.</summary>
    public async Task WaitForShutdownAsync(CancellationToken stop = default)
    {
        var lifetime = App.Services.GetRequiredService<IHostApplicationLifetime>();
        var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (stop.Register(lifetime.StopApplication))
        using (lifetime.ApplicationStopping.Register(() => stopping.TrySetResult()))
            await stopping.Task.ConfigureAwait(false);
        await StopAsync().ConfigureAwait(false);
    }

    /// <summary>Stops gracefully (see the class summary), once: later calls wait for the same stop.</summary>
    public Task StopAsync()
    {
        lock (_gate) return _stopped ??= _started ? App.StopAsync() : Task.CompletedTask; // a host never started has nothing to stop
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await App.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>The silo's part of the host's start and stop (see <see cref="SiloHost"/>).</summary>
internal sealed class SiloLifecycle(SiloInfo silo, JobScheduler jobs, HostEndpoints endpoints, SiloHostOptions options,
    ILogger<SiloLifecycle> logger) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>After Kestrel has bound its endpoints: the silo's address is known, jobs may run.</summary>
    public Task StartedAsync(CancellationToken cancellationToken)
    {
        silo.Address = endpoints.Grpc.ToString().TrimEnd('/');
        silo.Status = SiloStatus.Active;
        jobs.Start();
        return Task.CompletedTask;
    }

    /// <summary>Before any service stops (Kestrel included): jobs end first, so their streams end and the drain is short.</summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        silo.Status = SiloStatus.ShuttingDown;
        try
        {
            await jobs.StopAsync().WaitAsync(options.DrainTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            // The job is marked cancelled already; its executor is slow to notice. Stopping goes on.
            logger.LogWarning("the running job's executor did not return within {Timeout}; stopping without it", options.DrainTimeout);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Healthy while the silo is active; joining or shutting down, it is not serving.</summary>
internal sealed class SiloHealthCheck(SiloInfo silo) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(silo.Status == SiloStatus.Active
            ? HealthCheckResult.Healthy($"silo {silo.Id} is active")
            : HealthCheckResult.Unhealthy($"silo {silo.Id} is {silo.Status}"));
}
