using Sd3Mesh.Protos.V1;
using Sd3Mesh.Rpc;
using Sd3Mesh.Server.Generation;
using Sd3Mesh.Server.Jobs;

namespace Sd3Mesh.Server.Tests;

/// <summary>A silo on a free loopback port with a scripted executor, and a channel to it.</summary>
public sealed class TestSilo : IAsyncDisposable
{
    private TestSilo(SiloHost host, IJobExecutor executor, GrpcChannel channel)
    {
        Host = host;
        JobExecutor = executor;
        Channel = channel;
        Client = new GenerationClient(channel);
    }

    public SiloHost Host { get; }
    public IJobExecutor JobExecutor { get; }
    public ScriptedExecutor Executor => (ScriptedExecutor)JobExecutor;
    public GrpcChannel Channel { get; }
    public GenerationClient Client { get; }

    public static async Task<TestSilo> StartAsync(SiloHostOptions? options = null, ScriptedExecutor? executor = null,
        Transport.TensorCallRegistry? grainMethods = null)
    {
        options ??= new SiloHostOptions();
        options.Listen = "127.0.0.1:0";
        executor ??= new ScriptedExecutor();
        var host = new SiloHost(executor, options, grainMethods);
        await host.StartAsync();
        return new TestSilo(host, executor, new GrpcChannel(host.Address));
    }

    /// <summary>A silo on any executor (the real pipeline), reporting <paramref name="grains"/>.</summary>
    public static async Task<TestSilo> StartWithAsync(IJobExecutor executor, Cluster.IGrainDirectory? grains = null)
    {
        var host = new SiloHost(executor, new SiloHostOptions { Listen = "127.0.0.1:0" }, grains: grains);
        await host.StartAsync();
        return new TestSilo(host, executor, new GrpcChannel(host.Address));
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await Host.DisposeAsync();
    }

    /// <summary>A small valid request (32 x 32, 3 steps, one seed).</summary>
    public static GenerateRequest Request(string prompt = "a lighthouse at dusk", uint steps = 3) =>
        new() { Prompt = prompt, Width = 32, Height = 32, Steps = steps, Seed = 42 };

    public async Task<List<JobEvent>> GenerateAsync(GenerateRequest request, CancellationToken cancellationToken = default)
    {
        var events = new List<JobEvent>();
        using var call = Client.Generate(request, new CallOptions { CancellationToken = cancellationToken });
        await foreach (var e in call.ResponseStream) events.Add(e);
        return events;
    }

    public async Task<List<JobEvent>> WatchAsync(string jobId, ulong from = 0)
    {
        var events = new List<JobEvent>();
        using var call = Client.Watch(jobId, from);
        await foreach (var e in call.ResponseStream) events.Add(e);
        return events;
    }
}
