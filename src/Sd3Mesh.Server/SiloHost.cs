using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Rpc;
using Sd3Mesh.Rpc.Health;
using Sd3Mesh.Server.Cluster;
using Sd3Mesh.Server.Generation;
using Sd3Mesh.Server.Jobs;
using Sd3Mesh.Server.Transport;

namespace Sd3Mesh.Server;

public sealed class SiloHostOptions
{
    /// <summary>host:port of the gRPC endpoint (loopback by default; port 0 picks a free one).</summary>
    public string Listen { get; set; } = "127.0.0.1:50051";
    /// <summary>Serve TLS with this certificate (with private key); null for cleartext HTTP/2.</summary>
    public X509Certificate2? Certificate { get; set; }
    public string SiloId { get; set; } = "silo-" + Environment.MachineName.ToLowerInvariant();
    /// <summary>Results up to this size travel inside the finished event.</summary>
    public long InlineImageLimit { get; set; } = 2 * 1024 * 1024;
    public int MaxJobs { get; set; } = 1000;
    public int MaxQueuedJobs { get; set; } = 100;
    /// <summary>Image and step preview bytes kept in memory; beyond, the oldest ended jobs lose theirs.</summary>
    public long MaxImageBytes { get; set; } = 1L << 30;
    /// <summary>Memory placement may use on the cpu device; null: all the process may use.</summary>
    public ulong? CpuBudgetBytes { get; set; }
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);
    public ILoggerFactory LoggerFactory { get; set; } = NullLoggerFactory.Instance;
}

/// <summary>
/// A silo: the gRPC server with the public API (Generation, Cluster), the grain transport, health and
/// reflection, over a job scheduler that runs one job at a time on the given executor.
/// </summary>
public sealed class SiloHost : IAsyncDisposable
{
    private readonly SiloHostOptions _options;

    public SiloHost(IJobExecutor executor, SiloHostOptions? options = null, TensorCallRegistry? grainMethods = null,
        IGrainDirectory? grains = null, IDeviceInventory? devices = null)
    {
        _options = options ?? new SiloHostOptions();
        Silo = new SiloInfo(_options.SiloId);
        Jobs = new JobScheduler(executor, new JobStore(_options.MaxJobs, _options.MaxImageBytes), _options.MaxQueuedJobs,
            _options.LoggerFactory.CreateLogger<JobScheduler>())
        {
            InlineImageLimit = _options.InlineImageLimit,
        };
        Server = new GrpcServer(new GrpcServerOptions
        {
            Listen = _options.Listen,
            Certificate = _options.Certificate,
            DrainTimeout = _options.DrainTimeout,
            LoggerFactory = _options.LoggerFactory,
        });
        Server.MapService(GenerationService.Descriptor, new GenerationService(Jobs, executor.Model));
        Server.MapService(ClusterService.Descriptor, new ClusterService(Silo, devices ?? new CpuDeviceInventory(_options.CpuBudgetBytes), grains ?? new NoGrains()));
        Server.MapService(TransportService.Descriptor, new TransportService(grainMethods ?? new TensorCallRegistry(),
            logger: _options.LoggerFactory.CreateLogger<TransportService>()));
        Health = Server.MapHealth();
        Server.MapReflection();
    }

    public SiloInfo Silo { get; }
    public JobScheduler Jobs { get; }
    public GrpcServer Server { get; }
    public HealthService Health { get; }
    public Uri Address => Server.Address;

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await Server.StartAsync(cancellationToken).ConfigureAwait(false);
        Silo.Address = Server.Address.ToString().TrimEnd('/');
        Silo.Status = SiloStatus.Active;
        Jobs.Start();
    }

    /// <summary>Refuses new jobs, cancels queued and running ones, then drains the gRPC server.</summary>
    public async Task StopAsync()
    {
        Silo.Status = SiloStatus.ShuttingDown;
        await Jobs.StopAsync().ConfigureAwait(false);
        await Server.StopAsync(_options.DrainTimeout).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);
}
