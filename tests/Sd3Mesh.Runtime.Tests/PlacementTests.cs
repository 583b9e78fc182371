using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.TestingHost;
using Sd3Mesh.Onnx;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Placement;
using Sd3Mesh.Runtime.Stages;

namespace Sd3Mesh.Runtime.Tests;

public interface IDeviceProbeGrain : IGrainWithStringKey
{
    Task<string> SiloName();
}

[DevicePlacement]
public sealed class DeviceProbeGrain(ISiloMetadataCache metadata, ILocalSiloDetails silo) : Grain, IDeviceProbeGrain
{
    public Task<string> SiloName() => Task.FromResult(SiloDevices.Name(metadata.GetSiloMetadata(silo.SiloAddress)) ?? "?");
}

/// <summary>
/// Two in-process silos, "gpu0" owning cpu:0 and "gpu1" owning cpu:1 (the first silo also cpu:2), with the cluster config
/// that says so: T5 placed on cpu:1, its fallback cpu:2.
/// </summary>
public class TwoSiloCluster : IAsyncLifetime
{
    public static readonly ClusterConfig Config = ClusterConfigReader.Parse("""
        { "name": "t", "model": { "preset": "tiny" },
          "silos": [
            { "name": "gpu0", "primary": true, "devices": ["cpu:0", "cpu:2"], "silo_port": 1, "gateway_port": 2, "grpc_port": 3 },
            { "name": "gpu1", "devices": ["cpu:1"], "silo_port": 4, "gateway_port": 5, "grpc_port": 6 } ],
          "placement": { "text_encoder": "cpu:0", "text_encoder_2": "cpu:0", "text_encoder_3": "cpu:1", "transformer": "cpu:0", "vae": "cpu:2" },
          "fallback": { "text_encoder_3": "cpu:2" } }
        """, "two-silos.json");

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((options, silo) =>
        {
            bool first = options.SiloName == "Silo_0";
            silo.UseSiloMetadata(SiloDevices.Metadata(first ? "gpu0" : "gpu1",
                first ? [new Device(DeviceKind.Cpu, 0), new Device(DeviceKind.Cpu, 2)] : [new Device(DeviceKind.Cpu, 1)], null));
            silo.AddPlacementDirector<DevicePlacementStrategy, DevicePlacementDirector>();
            silo.Services.AddSingleton(Config);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

/// <summary>The same two silos for a test that stops one.</summary>
public sealed class TwoSiloClusterToBreak : TwoSiloCluster;

public sealed class PlacementTests(TwoSiloCluster fixture) : IClassFixture<TwoSiloCluster>
{
    [Theory]
    [InlineData("m/text_encoder_3@cpu:1", "gpu1")]
    [InlineData("m/transformer@cpu:0", "gpu0")]
    [InlineData("m/vae@cpu:2", "gpu0")]
    [InlineData("job/7@cpu:1", "gpu1")]
    public async Task A_grain_is_activated_on_the_silo_that_owns_its_device(string key, string silo)
    {
        var probe = fixture.Cluster.Client.GetGrain<IDeviceProbeGrain>(key);
        Assert.Equal(silo, await probe.SiloName());
    }

    [Fact]
    public async Task A_device_no_silo_owns_fails_with_the_grain_the_device_and_what_each_silo_owns()
    {
        var probe = fixture.Cluster.Client.GetGrain<IDeviceProbeGrain>("m/transformer@cuda:3");
        var e = await Assert.ThrowsAnyAsync<Exception>(() => probe.SiloName());
        Assert.Contains("cannot place m/transformer on cuda:3: no active silo owns cuda:3", e.Message);
        Assert.Contains("gpu0: cpu:0, cpu:2", e.Message);
        Assert.Contains("gpu1: cpu:1", e.Message);
    }

    [Fact]
    public async Task A_stateless_stage_call_to_a_grain_with_a_fallback_is_sent_again_until_it_answers_and_others_fail_unavailable_at_once()
    {
        var calls = new StageCalls(TwoSiloCluster.Config) { RetryDelay = TimeSpan.FromMilliseconds(10) };
        var t5 = fixture.Cluster.Client.GetGrain<IDeviceProbeGrain>("m/text_encoder_3@cpu:1");
        int attempts = 0;
        Task<int> FailTwice() => ++attempts <= 2 ? throw new SiloUnavailableException("the target silo became unavailable") : Task.FromResult(attempts);

        Assert.Equal(3, await calls.RunAsync(t5, "encode", FailTwice, retry: true));

        // Not retryable (the transformer's calls hold the job's latents), or no fallback (the VAE): UNAVAILABLE naming the silo.
        attempts = 0;
        var e = await Assert.ThrowsAsync<SubmoduleUnavailableException>(() => calls.RunAsync(t5, "encode", FailTwice));
        Assert.Equal(1, attempts);
        Assert.Equal("text_encoder_3 is unavailable: its silo gpu1 (device cpu:1) does not answer (SiloUnavailableException: the target silo became unavailable)",
            e.Message);
        attempts = 0;
        var vae = fixture.Cluster.Client.GetGrain<IDeviceProbeGrain>("m/vae@cpu:2");
        e = await Assert.ThrowsAsync<SubmoduleUnavailableException>(() => calls.RunAsync(vae, "decode", FailTwice, retry: true));
        Assert.StartsWith("vae is unavailable: its silo gpu0 (device cpu:2) does not answer", e.Message);

        // A fallback that takes no call either: the job fails once the failover window has passed, saying so.
        var brief = new StageCalls(TwoSiloCluster.Config) { RetryDelay = TimeSpan.FromMilliseconds(10), FailoverWindow = TimeSpan.FromMilliseconds(100) };
        e = await Assert.ThrowsAsync<SubmoduleUnavailableException>(() =>
            brief.RunAsync<int>(t5, "encode", () => throw new SiloUnavailableException("gone"), retry: true));
        Assert.Equal("text_encoder_3 is unavailable: its silo gpu1 (device cpu:1) does not answer; its fallback cpu:2 took no call within 0 s " +
                     "(SiloUnavailableException: gone)", e.Message);
    }
}

public sealed class FallbackPlacementTests(TwoSiloClusterToBreak fixture) : IClassFixture<TwoSiloClusterToBreak>
{
    [Fact]
    public async Task When_a_silo_is_gone_a_grain_with_a_fallback_is_activated_on_the_fallbacks_silo_and_one_without_fails_naming_the_silo()
    {
        var cluster = fixture.Cluster;
        var t5 = cluster.Client.GetGrain<IDeviceProbeGrain>("m/text_encoder_3@cpu:1");
        Assert.Equal("gpu1", await t5.SiloName());

        var gpu1 = cluster.Silos.Single(s => s.Name != "Silo_0");
        await cluster.StopSiloAsync(gpu1);

        // The activation on gpu1 went with it; the next call places the grain anew: on cpu:2's silo, T5's fallback.
        Assert.Equal("gpu0", await t5.SiloName());
        // No fallback for a job's coordinator on cpu:1 (the transformer has none): refused, naming the silo that owned cpu:1.
        var e = await Assert.ThrowsAnyAsync<Exception>(() => cluster.Client.GetGrain<IDeviceProbeGrain>("job/9@cpu:1").SiloName());
        Assert.Contains("cannot place job/9 on cpu:1: no active silo owns cpu:1 (its owner in the config: silo gpu1; no fallback configured; " +
                        "active silos and their devices: gpu0: cpu:0, cpu:2)", e.Message);
    }
}
