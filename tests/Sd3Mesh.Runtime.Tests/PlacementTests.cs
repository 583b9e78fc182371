using Orleans.Hosting;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.TestingHost;
using Sd3Mesh.Onnx;
using Sd3Mesh.Runtime.Placement;

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

/// <summary>Two in-process silos, "gpu0" owning cpu:0 and "gpu1" owning cpu:1 (the first silo also cpu:2).</summary>
public sealed class TwoSiloCluster : IAsyncLifetime
{
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
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

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
}
