using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Hosting;
using Sd3Mesh.Runtime.Jobs;

namespace Sd3Mesh.Server;

/// <summary>
/// A one-silo cluster in this process, every submodule on one device (or where an <see cref="EmbeddedCluster"/> config
/// places them): what `sd3mesh generate` runs a local job on, and what `sd3mesh bench cluster` measures. Its
/// <see cref="Pipeline"/> is the very pipeline the silo's coordinator grains use (the same grains, the same tensor
/// exchange), so a local job and a served one take one path.
/// </summary>
public sealed class EmbeddedSilo : IAsyncDisposable, IDisposable
{
    private EmbeddedSilo(SiloHost host, Sd3ModelFolder folder, Device device)
    {
        Host = host;
        Folder = folder;
        Device = device;
        Pipeline = host.Services.GetRequiredService<CoordinatorPipelines>().For(device);
    }

    public SiloHost Host { get; }
    public Sd3ModelFolder Folder { get; }
    /// <summary>The transformer's device (where coordinators run).</summary>
    public Device Device { get; }
    public Sd3Pipeline Pipeline { get; }

    /// <summary>Opens <paramref name="modelDirectory"/> (errors name the file) and starts the silo on loopback.</summary>
    public static Task<EmbeddedSilo> StartAsync(string modelDirectory, Device device, OnnxModelOptions? sessions = null,
        CancellationToken cancellationToken = default)
    {
        var folder = Sd3ModelFolder.Open(modelDirectory);
        return StartAsync(folder, EmbeddedCluster.Config(new ModelSpec(folder.Repository.Directory, null), device), sessions, cancellationToken);
    }

    /// <summary>Starts the one silo of <paramref name="config"/> (an <see cref="EmbeddedCluster"/> config) serving <paramref name="folder"/>.</summary>
    public static async Task<EmbeddedSilo> StartAsync(Sd3ModelFolder folder, ClusterConfig config, OnnxModelOptions? sessions = null,
        CancellationToken cancellationToken = default)
    {
        var host = ClusterSilo.Create(config, config.Primary.Name,
            new SiloHostOptions { Logging = logging => logging.SetMinimumLevel(LogLevel.Warning) },
            new SiloRuntimeOptions { Folder = folder, Sessions = sessions ?? new OnnxModelOptions() });
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
            return new EmbeddedSilo(host, folder, config.Placement[PlacedSubmodule.Transformer][0]);
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask DisposeAsync() => Host.DisposeAsync();

    public void Dispose() => Host.DisposeAsync().AsTask().GetAwaiter().GetResult();
}
