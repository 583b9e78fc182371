using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Tests;
using E = Sd3Mesh.Protos.V1.JobEvent.EventOneofCase;
using PipelineRequest = Sd3Mesh.Pipeline.GenerationRequest;

namespace Sd3Mesh.Cli.Tests;

/// <summary>`cluster up` on cluster/cfg-parallel-2gpu.json with cpu:0 and cpu:1 for its GPUs: a transformer grain in each silo process.</summary>
public sealed class CfgParallelClusterFixture : IAsyncLifetime
{
    public TinyModels Models { get; } = new();
    public ClusterUp Cluster { get; private set; } = null!;

    public async Task InitializeAsync() => Cluster = await ClusterUp.StartAsync("cfg-parallel-2gpu.json", Models.Folder, ClusterUp.OnCpus);

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        Models.Dispose();
    }
}

[TestCaseOrderer(ByOrder.Name, ByOrder.Assembly)]
public sealed class CfgParallelClusterTests(CfgParallelClusterFixture fixture) : IClassFixture<CfgParallelClusterFixture>
{
    private ClusterUp Cluster => fixture.Cluster;

    [Fact, Order(1)]
    public async Task A_cfg_parallel_job_gives_the_png_of_the_one_process_pipeline_with_split_guidance()
    {
        var wire = new GenerateRequest { Prompt = "a photo of a cat", NegativePrompt = "blurry", Width = 64, Height = 64, Steps = 3, Seed = 11 };
        var events = await new GenerationTestClient(Cluster.Channel).GenerateAsync(wire);
        Assert.True(events[^1].EventCase == E.Finished, LocalClusterTests.Describe(events[^1]));

        // The conditional pass on cpu:0 and the unconditional one on cpu:1, at once: each is what `--cfg split` runs in turn.
        var local = new PipelineRequest
        {
            Prompt = "a photo of a cat", NegativePrompt = "blurry", Width = 64, Height = 64, Steps = 3, Seeds = [11], CfgMode = Pipeline.Guidance.CfgMode.Split,
        };
        Assert.Equal(await fixture.Models.LocalPngAsync(local), events[^1].Finished.Images.Single().Data.ToByteArray());

        var transformers = (await new Protos.V1.Cluster.ClusterClient(Cluster.Channel).ListGrainsAsync(new ListGrainsRequest())).Grains
            .Where(g => g.Submodule == "transformer").OrderBy(g => g.Device).ToList();
        Assert.Equal([("gpu0", "cpu:0"), ("gpu1", "cpu:1")], transformers.Select(g => (g.SiloId, g.Device)));
        Assert.All(transformers, g => Assert.True(g.Calls >= 3, $"{g.Key}: {g.Calls} calls for 3 steps"));
    }

    [Fact, Order(2)]
    public async Task Sigterm_stops_every_silo_gracefully_and_exits_0()
    {
        Assert.Equal(0, await Cluster.StopAsync());
        Assert.Contains("stopping gpu0, gpu1", Cluster.Process.Output);
        Assert.EndsWith("stopped", Cluster.Process.Output.TrimEnd());
        foreach (var (silo, pid) in Cluster.SiloPids)
        {
            Assert.False(ClusterUp.IsRunning(pid), $"{silo} is still running");
            var log = Cluster.Log(silo);
            Assert.Contains($"silo {silo} stopping: cancelling jobs, leaving the cluster", log);
            Assert.EndsWith($"silo {silo} stopped", log.TrimEnd());
        }
    }
}
