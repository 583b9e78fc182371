using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Sd3Mesh.Onnx;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Grains;

namespace Sd3Mesh.Runtime.Tests;

/// <summary>Two silos (T5 on s1) whose idle grains are deactivated after two seconds.</summary>
public sealed class IdleTimeoutCluster : IAsyncLifetime
{
    public ClusterConfig Config { get; } = ClusterConfigReader.Parse(
        GrainClusterFixture.ConfigJson.Replace("\"name\": \"grain-test\"", "\"name\": \"idle-test\", \"offload\": { \"idle_timeout\": \"2s\" }"), "test");

    public RuntimeTestCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync() => Cluster = await TestClusters.DeployAsync(Config);
    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

public sealed class IdleTimeoutTests(IdleTimeoutCluster fixture) : IClassFixture<IdleTimeoutCluster>
{
    [Fact]
    public void Orleans_collects_grains_idle_for_the_configs_idle_timeout()
    {
        foreach (var silo in fixture.Cluster.Host.Silos)
        {
            var options = fixture.Cluster.Host.GetSiloServiceProvider(silo.SiloAddress).GetRequiredService<IOptions<GrainCollectionOptions>>().Value;
            Assert.Equal(TimeSpan.FromSeconds(2), options.CollectionAge);
            Assert.Equal(TimeSpan.FromSeconds(1), options.CollectionQuantum);
        }
    }

    [Fact]
    public async Task Idle_grains_release_their_sessions_and_load_them_again_on_the_next_job()
    {
        var client = fixture.Cluster.Client;
        var devices = new[] { new Device(DeviceKind.Cpu, 0), new Device(DeviceKind.Cpu, 1) }
            .Select(d => client.GetGrain<IDeviceReportGrain>(IDeviceReportGrain.KeyOf(d))).ToArray();
        var transformer = client.GetGrain<ITransformerGrain>("tiny-fp32-seed0/transformer@cpu:0");

        var first = await TestClusters.RunAsync(client, TestClusters.Request());
        // The VAE decoded a moment ago (the encoders may have gone already: they were idle while the job denoised).
        Assert.Contains("tiny-fp32-seed0/vae@cpu:0", (await devices[0].Report()).Residents);

        // Nobody calls the grains: Orleans deactivates them, and their sessions leave both devices.
        await TestClusters.WaitForAsync(async () => (await Task.WhenAll(devices.Select(d => d.Report()))).All(r => r.Residents.Length == 0 && r.LoadedWeightBytes == 0),
            TimeSpan.FromSeconds(20), "every session released");
        var fresh = await transformer.Report(); // a new activation, nothing loaded
        Assert.Equal((SessionState.Offloaded, 0, 0L), (fresh.State, fresh.Loads, fresh.Calls));

        var second = await TestClusters.RunAsync(client, TestClusters.Request());
        Assert.Equal(Assert.Single(first).Data, Assert.Single(second).Data);
        var again = await transformer.Report();
        Assert.Equal((SessionState.Active, 1), (again.State, again.Loads));
    }
}
