using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.TestingHost;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.IO;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Grains;
using Sd3Mesh.Runtime.Hosting;
using Sd3Mesh.Runtime.Jobs;
using Sd3Mesh.Runtime.Placement;
using Sd3Mesh.Runtime.Tests.Transport;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Tests;

/// <summary>
/// In-process Orleans test clusters (TestingHost) made from a cluster config: silo i of the cluster is the config's
/// silo i, with the SD3 grains as `sd3mesh silo` adds them. Their ports are the TestingHost's; the config's are unused.
/// </summary>
public static class TestClusters
{
    /// <summary>The model every grain test serves: the cached tiny preset (fp32, weight seed 0).</summary>
    public const string Model = """ "model": { "preset": "tiny" } """;

    /// <summary>
    /// Starts the config's silos, each with the tensor transport on a Kestrel host of its own (grpc_port: a free
    /// port), so tensors larger than an inline reference move between silos over gRPC as in `sd3mesh silo`.
    /// </summary>
    public static async Task<RuntimeTestCluster> DeployAsync(ClusterConfig config, Action<ISiloBuilder>? configure = null)
    {
        var ports = EmbeddedCluster.FreeLoopbackPorts(config.Silos.Count);
        config = config with { Silos = [.. config.Silos.Select((s, i) => s with { GrpcPort = ports[i] })] };
        var transports = await Task.WhenAll(config.Silos.Select(s => TransportHost.StartAsync(s.Name, port: s.GrpcPort)));
        var builder = new InProcessTestClusterBuilder((short)config.Silos.Count);
        builder.ConfigureSilo((options, silo) =>
        {
            int i = int.Parse(options.SiloName["Silo_".Length..]);
            silo.AddSd3MeshGrains(config, config.Silos[i]);
            // The silo publishes into the store its transport host serves.
            silo.Services.Replace(ServiceDescriptor.Singleton(transports[i].Store));
            configure?.Invoke(silo);
        });
        var cluster = new RuntimeTestCluster(config, builder.Build(), transports);
        await cluster.Host.DeployAsync();
        return cluster;
    }

    /// <summary>The tiny model's grain of <paramref name="submodule"/> on <paramref name="device"/>.</summary>
    public static ISubmoduleGrain Grain(IGrainFactory grains, PlacedSubmodule submodule, string device) =>
        grains.Submodule(new PlacedGrain(submodule, 0, new DeviceKey($"tiny-fp32-seed0/{submodule.Name()}", Onnx.Device.Parse(device)), "", 0));

    /// <summary>A tiny job: 64x64, 4 steps, guidance 5 with a negative prompt (T5 on).</summary>
    public static GenerationRequest Request(string prompt = "a lighthouse at dusk", ulong seed = 42, OutputType output = OutputType.Image) => new()
    {
        Prompt = prompt, NegativePrompt = "blurry", Width = 64, Height = 64, Steps = 4, GuidanceScale = 5, Seeds = [seed], Count = 1,
        OutputType = output,
    };

    /// <summary>Runs a job on a coordinator placed on <paramref name="device"/>, as ClusterJobExecutor does.</summary>
    public static async Task<JobOutput[]> RunAsync(IClusterClient client, GenerationRequest request, string device = "cpu:0",
        RecordingObserver? observer = null, int previewInterval = 0)
    {
        string id = Guid.NewGuid().ToString("N");
        observer ??= new RecordingObserver();
        var reference = client.CreateObjectReference<IJobObserver>(observer);
        try
        {
            return await client.GetGrain<IJobCoordinatorGrain>($"job/{id}@{device}").Run(new JobRequest(id, request, previewInterval), reference);
        }
        finally
        {
            client.DeleteObjectReference<IJobObserver>(reference);
        }
    }

    /// <summary>The one image's latents [C, H/8, W/8] of a job run with OutputType.Latent.</summary>
    public static float[] Latents(JobOutput[] outputs)
    {
        var output = Assert.Single(outputs);
        Assert.Equal(JobOutput.Npy, output.MediaType);
        return NpyFile.Read(output.Data).ToFloatArray();
    }

    public static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan limit, Func<string> what)
    {
        var deadline = DateTime.UtcNow + limit;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"{what()}: not within {limit}");
            await Task.Delay(100);
        }
    }

    public static Task WaitForAsync(Func<Task<bool>> condition, TimeSpan limit, string what) => WaitForAsync(condition, limit, () => what);

    public static Task WaitForAsync(Func<bool> condition, TimeSpan limit, string what) => WaitForAsync(() => Task.FromResult(condition()), limit, () => what);
}

/// <summary>An in-process cluster (<see cref="TestClusters.DeployAsync"/>) and its silos' transport hosts.</summary>
public sealed class RuntimeTestCluster(ClusterConfig config, InProcessTestCluster host, TransportHost[] transports) : IAsyncDisposable
{
    public ClusterConfig Config { get; } = config;
    public InProcessTestCluster Host { get; } = host;
    public IClusterClient Client => Host.Client;

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        foreach (var t in transports) await t.DisposeAsync();
    }
}

/// <summary>A job's progress as its coordinator reports it, with the time each event arrived.</summary>
public sealed class RecordingObserver : IJobObserver
{
    private readonly List<(JobProgress Progress, DateTime At)> _events = [];

    public IReadOnlyList<JobProgress> Events { get { lock (_events) return [.. _events.Select(e => e.Progress)]; } }
    public IReadOnlyList<(JobProgress Progress, DateTime At)> Timed { get { lock (_events) return [.. _events]; } }

    public Task OnProgress(JobProgress progress)
    {
        lock (_events) _events.Add((progress, DateTime.UtcNow));
        return Task.CompletedTask;
    }
}

/// <summary>
/// A class fixture: an in-process cluster deployed from <see cref="Config"/>, and the one-process model on the same
/// tiny weights (the reference its jobs are compared with).
/// </summary>
public abstract class ConfiguredCluster : IAsyncLifetime
{
    public abstract ClusterConfig Config { get; }
    public RuntimeTestCluster Cluster { get; private set; } = null!;
    public OnnxSd3Model Local { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Local = OnnxSd3Model.Open(TinyWeights.Folder);
        Cluster = await TestClusters.DeployAsync(Config);
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        Local.Dispose();
    }
}
