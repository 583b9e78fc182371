using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Runtime.Catalog;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Devices;
using Sd3Mesh.Runtime.Grains;
using Sd3Mesh.Runtime.Hosting;

namespace Sd3Mesh.Runtime.Tests;

/// <summary>
/// One silo with two devices: the three text encoders on cpu:1, whose memory budget holds the largest of them but
/// never two (the tiny model's encoders are 6.5, 6.5 and 8.6 MB); the transformer and the VAE on cpu:0, unbudgeted.
/// </summary>
public sealed class TightBudgetCluster : ConfiguredCluster
{
    public static readonly Device EncoderDevice = Device.Parse("cpu:1");
    public static readonly long Budget = TinyWeights.Encoders.Max(TinyWeights.Of);

    public override ClusterConfig Config { get; } = ClusterConfigReader.Parse($$"""
        { "name": "offload-test", {{TestClusters.Model}},
          "silos": [ { "name": "s0", "primary": true, "devices": ["cpu:0", "cpu:1"], "silo_port": 1, "gateway_port": 2, "grpc_port": 3 } ],
          "devices": { "cpu:1": { "memory_budget": "{{Budget}}" } },
          "placement": { "text_encoder": "cpu:1", "text_encoder_2": "cpu:1", "text_encoder_3": "cpu:1", "transformer": "cpu:0", "vae": "cpu:0" } }
        """, "test");
}

public sealed class OffloadTests(TightBudgetCluster fixture) : IClassFixture<TightBudgetCluster>
{
    private IClusterClient Client => fixture.Cluster.Client;

    private ISubmoduleGrain Encoder(PlacedSubmodule s) => TestClusters.Grain(Client, s, TightBudgetCluster.EncoderDevice.ToString());

    private Task<GrainReport[]> Encoders() => Task.WhenAll(TinyWeights.Encoders.Select(s => Encoder(s).Report()));

    private Task<DeviceReport> Device() =>
        Client.GetGrain<IDeviceReportGrain>(IDeviceReportGrain.KeyOf(TightBudgetCluster.EncoderDevice)).Report();

    [Fact]
    public async Task Loading_an_encoder_releases_the_one_before_and_the_next_call_loads_that_one_again()
    {
        // Only this test calls the encoders: they start unloaded.
        var d = await Device();
        Assert.Equal((TightBudgetCluster.Budget, 0, 0L, 0), (d.BudgetBytes, d.Evictions, d.LoadedWeightBytes, d.Residents.Length));

        PlacedSubmodule[] order = [PlacedSubmodule.TextEncoder, PlacedSubmodule.TextEncoder2, PlacedSubmodule.TextEncoder3, PlacedSubmodule.TextEncoder];
        for (int n = 0; n < order.Length; n++)
        {
            await Encoder(order[n]).Warm();
            d = await Device();
            // The one just loaded is all the device holds; each load after the first released the encoder before it.
            Assert.Equal(($"tiny-fp32-seed0/{order[n].Name()}@cpu:1", TinyWeights.Of(order[n]), n),
                (Assert.Single(d.Residents), d.LoadedWeightBytes, d.Evictions));
            var states = (await Encoders()).Select(r => r.State);
            Assert.Equal(TinyWeights.Encoders.Select(s => s == order[n] ? SessionState.Active : SessionState.Offloaded), states);
        }
        // text_encoder loaded twice (released for text_encoder_2, loaded again by its next call), the others once.
        Assert.Equal([2, 1, 1], (await Encoders()).Select(r => r.Loads));

        // A job calls all three encoders: the two offloaded ones load again, and the image is the one-process pipeline's.
        var request = TestClusters.Request("a lighthouse at dusk", 42);
        var output = Assert.Single(await TestClusters.RunAsync(Client, request));
        Assert.Equal((await new Sd3Pipeline(fixture.Local.Components).GenerateAsync(request)).Images[0].ToPng(), output.Data);

        var after = await Encoders();
        d = await Device();
        Assert.True(after[1].Loads >= 2 && after[2].Loads >= 2, $"text_encoder_2 loads {after[1].Loads}, text_encoder_3 loads {after[2].Loads}");
        // Every load is either still resident or was released to make room; one encoder at a time, within the budget.
        Assert.Equal(after.Sum(r => r.Loads), d.Evictions + d.Residents.Length);
        var active = Assert.Single(after, r => r.State == SessionState.Active);
        Assert.Equal((active.Key, active.WeightBytes), (Assert.Single(d.Residents), d.LoadedWeightBytes));
        Assert.True(d.LoadedWeightBytes <= TightBudgetCluster.Budget);
    }

    [Fact]
    public void A_grain_larger_than_its_devices_budget_is_refused_before_the_silo_starts()
    {
        long t5 = TinyWeights.Of(PlacedSubmodule.TextEncoder3);
        var config = fixture.Config with { MemoryBudgets = new Dictionary<Device, long> { [TightBudgetCluster.EncoderDevice] = t5 - 1 } };
        var e = Assert.Throws<ClusterConfigException>(() => new ModelCatalog(config, RuntimeServices.ResolveModel, RuntimeServices.ReportedMemory));
        Assert.Equal([$"placement.text_encoder_3: its weights ({ByteSize.Format(t5)}) exceed cpu:1's memory budget ({ByteSize.Format(t5 - 1)})"], e.Errors);
    }

    [Fact]
    public async Task A_device_refuses_a_reservation_larger_than_its_budget_with_both_sizes()
    {
        var memory = new DeviceMemory(new Device(DeviceKind.Cpu, 0), 1000);
        var sessions = new GrainSessions<MemoryStream>("m/transformer@cpu:0", 1001, memory, _ => Task.FromResult(new MemoryStream()));
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => sessions.AcquireAsync(CancellationToken.None));
        Assert.Equal("m/transformer@cpu:0 needs 1001 B, more than cpu:0's memory budget (1000 B)", e.Message);
        Assert.Equal((0L, 0, SessionState.Offloaded), (memory.Used, sessions.Loads, sessions.State));
    }
}
