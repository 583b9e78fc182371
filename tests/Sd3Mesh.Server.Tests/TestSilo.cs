using Microsoft.Extensions.DependencyInjection;
using Grpc.Core;
using Grpc.Net.Client;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Generation;
using Sd3Mesh.Server.Grpc;
using Sd3Mesh.Server.Jobs;
using GenerationApi = Sd3Mesh.Protos.V1.Generation;

namespace Sd3Mesh.Server.Tests;

/// <summary>A silo on a free loopback port with a scripted executor, and a channel to it.</summary>
public sealed class TestSilo : IAsyncDisposable
{
    private TestSilo(SiloHost host, IJobExecutor executor, GrpcChannel channel)
    {
        Host = host;
        JobExecutor = executor;
        Channel = channel;
        Client = new GenerationTestClient(channel);
    }

    public SiloHost Host { get; }
    public IJobExecutor JobExecutor { get; }
    public ScriptedExecutor Executor => (ScriptedExecutor)JobExecutor;
    public GrpcChannel Channel { get; }
    public GenerationTestClient Client { get; }

    public static async Task<TestSilo> StartAsync(SiloHostOptions? options = null, ScriptedExecutor? executor = null)
    {
        options ??= new SiloHostOptions();
        options.Listen = "127.0.0.1:0";
        executor ??= new ScriptedExecutor();
        var host = new SiloHost(executor, options);
        await host.StartAsync();
        return new TestSilo(host, executor, GrpcChannels.Create(host.Address));
    }

    /// <summary>A silo built elsewhere (a cluster silo), started, and a channel to it.</summary>
    public static async Task<TestSilo> StartAsync(SiloHost host)
    {
        await host.StartAsync();
        return new TestSilo(host, host.Services.GetRequiredService<IJobExecutor>(), GrpcChannels.Create(host.Address));
    }

    /// <summary>A silo on any executor (the real pipeline), reporting <paramref name="grains"/>.</summary>
    public static async Task<TestSilo> StartWithAsync(IJobExecutor executor, Cluster.IGrainDirectory? grains = null, SiloHostOptions? options = null)
    {
        options ??= new SiloHostOptions();
        options.Listen = "127.0.0.1:0";
        var host = new SiloHost(executor, options, grains: grains);
        await host.StartAsync();
        return new TestSilo(host, executor, GrpcChannels.Create(host.Address));
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await Host.DisposeAsync();
    }

    /// <summary>A small valid request (32 x 32, 3 steps, one seed).</summary>
    public static GenerateRequest Request(string prompt = "a lighthouse at dusk", uint steps = 3) =>
        new() { Prompt = prompt, Width = 32, Height = 32, Steps = steps, Seed = 42 };

    public Task<List<JobEvent>> GenerateAsync(GenerateRequest request, CancellationToken cancellationToken = default) =>
        Client.GenerateAsync(request, cancellationToken);

    public async Task<List<JobEvent>> WatchAsync(string jobId, ulong from = 0)
    {
        var events = new List<JobEvent>();
        using var call = Client.Api.Watch(new WatchRequest { JobId = jobId, FromSequence = from });
        await foreach (var e in call.ResponseStream.ReadAllAsync()) events.Add(e);
        return events;
    }
}

/// <summary>The generated Generation client with Task-returning calls, as the tests use them.</summary>
public sealed class GenerationTestClient(GrpcChannel channel)
{
    public GenerationApi.GenerationClient Api { get; } = new(channel);

    public Task<SubmitResponse> SubmitAsync(GenerateRequest request) => Api.SubmitAsync(request).ResponseAsync;
    public Task<CancelResponse> CancelAsync(string jobId) => Api.CancelAsync(new CancelRequest { JobId = jobId }).ResponseAsync;
    public Task<Protos.V1.Job> GetJobAsync(string jobId) => Api.GetJobAsync(new GetJobRequest { JobId = jobId }).ResponseAsync;
    public Task<ListJobsResponse> ListJobsAsync(ListJobsRequest request) => Api.ListJobsAsync(request).ResponseAsync;
    public Task<(string MediaType, byte[] Data)> DownloadImageAsync(string imageId, uint chunkSize = 0) => Api.DownloadImageAsync(imageId, chunkSize);

    public async Task<List<JobEvent>> GenerateAsync(GenerateRequest request, CancellationToken cancellationToken = default)
    {
        var events = new List<JobEvent>();
        using var call = Api.Generate(request, cancellationToken: cancellationToken);
        await foreach (var e in call.ResponseStream.ReadAllAsync(cancellationToken)) events.Add(e);
        return events;
    }
}
