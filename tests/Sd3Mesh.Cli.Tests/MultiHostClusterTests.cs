using System.Diagnostics;
using System.Text.Json.Nodes;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Tests;
using E = Sd3Mesh.Protos.V1.JobEvent.EventOneofCase;
using PipelineRequest = Sd3Mesh.Pipeline.GenerationRequest;

namespace Sd3Mesh.Cli.Tests;

/// <summary>
/// `cluster up` on cluster/redis-2host.json: two silo processes on two loopback addresses, as on two hosts (127.0.0.2: the
/// primary with CLIP, the transformer and the VAE on cpu:0; 127.0.0.3: T5 on cpu:1, its own cpu:0 as a one-device
/// machine's, falling back to the primary's cpu:0), finding each other through a Redis server (cluster/redis.sh)
/// instead of through the primary.
/// </summary>
public sealed class MultiHostClusterFixture : IAsyncLifetime
{
    public TinyModels Models { get; } = new();
    public RedisServer Redis { get; private set; } = null!;
    public ClusterUp Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Redis = await RedisServer.StartAsync();
        Cluster = await ClusterUp.StartAsync("redis-2host.json", Models.Folder,
            edit: config =>
            {
                config["clustering"] = new JsonObject { ["redis"] = Redis.Address };
                // As a machine with one device would: the cluster's cpu:1 is host3's own cpu:0.
                config["silos"]![1]!["local_devices"] = new JsonObject { ["cpu:1"] = "cpu:0" };
            },
            environment: new Dictionary<string, string>
            {
                ["Logging__LogLevel__Microsoft.AspNetCore.Hosting.Diagnostics"] = "Information",
                ["Logging__LogLevel__Sd3Mesh"] = "Information",
            });
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        await Redis.DisposeAsync();
        Models.Dispose();
    }
}

[TestCaseOrderer(ByOrder.Name, ByOrder.Assembly)]
public sealed class MultiHostClusterTests(MultiHostClusterFixture fixture) : IClassFixture<MultiHostClusterFixture>
{
    private ClusterUp Cluster => fixture.Cluster;
    private GenerationTestClient Client => new(Cluster.Channel);

    private static (GenerateRequest Wire, PipelineRequest Local) Request(string prompt, ulong seed = 42) =>
        (new GenerateRequest { Prompt = prompt, Width = 64, Height = 64, Steps = 3, Seed = seed, MaxSequenceLength = 512 },
         new PipelineRequest { Prompt = prompt, Width = 64, Height = 64, Steps = 3, Seeds = [seed], MaxSequenceLength = 512 });

    private async Task<Dictionary<string, Grain>> GrainsAsync() =>
        (await new Protos.V1.Cluster.ClusterClient(Cluster.Channel).ListGrainsAsync(new ListGrainsRequest())).Grains.ToDictionary(g => g.Submodule);

    [Fact, Order(1)]
    public async Task Silos_on_two_addresses_form_one_cluster_through_redis_and_a_job_with_t5_on_127_0_0_3_gives_the_one_process_png()
    {
        var silos = (await new Protos.V1.Cluster.ClusterClient(Cluster.Channel).ListSilosAsync(new ListSilosRequest())).Silos;
        Assert.Equal([("host2", "http://127.0.0.2:" + Cluster.Port("host2", "grpc_port"), SiloStatus.Active),
                      ("host3", "http://127.0.0.3:" + Cluster.Port("host3", "grpc_port"), SiloStatus.Active)],
            silos.Select(s => (s.Id, s.Address, s.Status)));
        Assert.Contains($"membership redis 127.0.0.1:{fixture.Redis.Port}", Cluster.Process.Output);

        var (wire, local) = Request("a photo of a cat");
        var events = await Client.GenerateAsync(wire);
        Assert.True(events[^1].EventCase == E.Finished, LocalClusterTests.Describe(events[^1]));
        Assert.Equal(await fixture.Models.LocalPngAsync(local), Assert.Single(events[^1].Finished.Images).Data.ToByteArray());
        // T5's output (512 x 64 fp32 = 128 KiB) was pulled from host3's tensor transport at 127.0.0.3.
        Assert.Contains($"POST http://127.0.0.3:{Cluster.Port("host3", "grpc_port")}/sd3mesh.v1.TensorTransport/Fetch", Cluster.Log("host3"));
        var t5 = (await GrainsAsync())["text_encoder_3"];
        Assert.Equal(("host3", "cpu:1", GrainState.Active, 2UL), (t5.SiloId, t5.Device, t5.State, t5.Calls));
        var devices = (await new Protos.V1.Cluster.ClusterClient(Cluster.Channel).ListDevicesAsync(new ListDevicesRequest())).Devices;
        Assert.Equal([("cpu:0", "host2", $"{Environment.ProcessorCount} logical cores"), ("cpu:1", "host3", $"{Environment.ProcessorCount} logical cores (this host's cpu:0)")],
            devices.Select(d => (d.Name, d.SiloId, d.Description)));
    }

    [Fact, Order(2)]
    public async Task After_kill_9_of_the_t5_silo_t5_moves_to_its_fallback_on_the_primary_and_the_next_job_still_gives_the_one_process_png()
    {
        int t5Silo = Cluster.SiloPids["host3"];
        using (var process = Process.GetProcessById(t5Silo)) process.Kill(); // SIGKILL: no goodbye to the cluster
        var clock = Stopwatch.StartNew();

        // Sent at once: T5's activation is still in the directory, on a silo that no longer answers. The encode call is sent
        // again until membership has declared host3 dead and the placement director has put T5 on its fallback, cpu:0.
        var (wire, local) = Request("a lighthouse at dusk", seed: 7);
        var events = await Client.GenerateAsync(wire);
        Assert.True(events[^1].EventCase == E.Finished, LocalClusterTests.Describe(events[^1]) + "\n" + Cluster.Log("host2"));
        Assert.Equal(await fixture.Models.LocalPngAsync(local), Assert.Single(events[^1].Finished.Images).Data.ToByteArray());
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(40));

        var t5 = (await GrainsAsync())["text_encoder_3"];
        Assert.Equal(("host2", "cpu:0", GrainState.Active), (t5.SiloId, t5.Device, t5.State));
        Assert.Contains($"text_encoder_3@cpu:1: no active silo owns cpu:1 (silo host3 is gone); activating it on its fallback cpu:0", Cluster.Log("host2"));
        await Cluster.Process.WaitForOutputAsync("the cluster goes on without host3: text_encoder_3 moves to its fallback cpu:0 (silo host2)", TimeSpan.FromSeconds(10));
        var job = (await Client.ListJobsAsync(new ListJobsRequest { PageSize = 1 })).Jobs.Single();
        Assert.Equal(JobState.Succeeded, job.State);
    }
}
