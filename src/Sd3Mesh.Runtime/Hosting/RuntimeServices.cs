using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sd3Mesh.Models;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Runtime.Catalog;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Devices;
using Sd3Mesh.Runtime.Grains;
using Sd3Mesh.Runtime.Jobs;
using Sd3Mesh.Runtime.Metrics;
using Sd3Mesh.Runtime.Placement;
using Sd3Mesh.Runtime.Tracing;
using Sd3Mesh.Runtime.Transport;

namespace Sd3Mesh.Runtime.Hosting;

/// <summary>How a silo's sessions are made, and its model when the caller opened it already.</summary>
public sealed record SiloRuntimeOptions
{
    /// <summary>TF32, CUDA graphs, residency, threads for every session of the silo.</summary>
    public OnnxModelOptions Sessions { get; init; } = new();
    /// <summary>The config's model, opened (null: the silo opens it at start).</summary>
    public Sd3ModelFolder? Folder { get; init; }
}

/// <summary>What a silo's grains need from its DI container.</summary>
public static class RuntimeServices
{
    /// <summary>
    /// The silo's model (opened once: a folder, or a preset created in the model cache), device memory budgets, its
    /// metrics, job traces and grain reports, the tensor store, the coordinators' pipelines, and, when the config asks
    /// for it, a warm start of the grains placed here.
    /// </summary>
    public static IServiceCollection AddSd3MeshRuntime(this IServiceCollection services, ClusterConfig config, SiloSpec silo,
        SiloRuntimeOptions? options = null)
    {
        options ??= new SiloRuntimeOptions();
        // A budget from what the device of this host reports (local_devices: cuda:1 may be this host's cuda:0).
        long? Reported(Device device) => ReportedMemory(silo.Local(device));
        services.AddSingleton(sp => new ModelCatalog(config, ResolveModel, Reported, options.Folder) { SessionOptions = options.Sessions });
        services.AddSingleton(new DeviceMemories(config, Reported));
        services.AddMetrics();
        services.AddSingleton(sp => new RuntimeMetrics(sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), silo,
            sp.GetRequiredService<DeviceMemories>()));
        services.AddSingleton(new JobTraces(silo.Name));
        services.AddSingleton<GrainReports>();
        services.AddTensorTransport(silo.Name, silo.GrpcUri);
        services.AddSingleton<CoordinatorPipelines>();
        services.AddHostedService<WarmStart>();
        return services;
    }

    /// <summary>A preset's seeded folder in the model cache (written once, by whichever silo gets there first), or the configured path.</summary>
    public static string ResolveModel(ModelSpec model) =>
        model.Path ?? ModelZoo.EnsureCached(model.Preset!, model.Precision, model.Seed);

    /// <summary>What a device offers when the config sets no budget: a GPU's memory less 10 % for the CUDA context and activations; CPU: no limit.</summary>
    public static long? ReportedMemory(Device device) =>
        device.IsCuda && CudaDriver.Query().Devices.FirstOrDefault(d => d.Index == device.Index) is { } gpu
            ? gpu.TotalMemoryBytes / 10 * 9
            : null;
}

/// <summary>
/// Opens the model when the silo starts (failing the start with the reason), and loads this silo's grains when the config
/// says warm. Taking the silo's metrics makes its instruments exist from the start (device memory before the first call).
/// </summary>
internal sealed class WarmStart(ModelCatalog catalog, SiloSpec silo, IGrainFactory grains, RuntimeMetrics metrics, ILogger<WarmStart> logger)
    : IHostedLifecycleService
{
    /// <summary>How long a warm start retries a grain its silo cannot place yet.</summary>
    public static readonly TimeSpan PlacementWait = TimeSpan.FromSeconds(30);

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        _ = metrics; // resolved with this service, at start (see the summary)
        if (!catalog.Config.Offload.Warm) return Task.CompletedTask;
        var mine = catalog.Plan.Grains.Where(g => g.Silo == silo.Name).ToArray();
        _ = Task.Run(async () =>
        {
            foreach (var g in mine)
            {
                for (var deadline = DateTime.UtcNow + PlacementWait; ; await Task.Delay(250, CancellationToken.None))
                {
                    try
                    {
                        await grains.Submodule(g).Warm(cancellationToken);
                        logger.LogInformation("warm: {Grain} loaded", g.Key);
                        break;
                    }
                    // Just started, the silo may not see its own devices advertised yet (Orleans' silo metadata
                    // cache fills as membership converges): its grains cannot be placed for a moment.
                    catch (DevicePlacementException) when (DateTime.UtcNow < deadline)
                    {
                    }
                    catch (Exception e)
                    {
                        logger.LogWarning("warm: {Grain} did not load: {Error}", g.Key, e.Message);
                        break;
                    }
                }
            }
        }, CancellationToken.None);
        return Task.CompletedTask;
    }

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
