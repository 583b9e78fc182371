using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Guidance;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Grains;

namespace Sd3Mesh.Runtime.Tests;

/// <summary>cfg-parallel-2gpu.json on logical CPU devices: a transformer grain on each silo, T5 on s1, warm start.</summary>
public sealed class CfgParallelCluster : ConfiguredCluster
{
    public override ClusterConfig Config { get; } = ClusterConfigReader.Parse($$"""
        { "name": "cfg-parallel-test", {{TestClusters.Model}},
          "silos": [
            { "name": "s0", "primary": true, "devices": ["cpu:0"], "silo_port": 1, "gateway_port": 2, "grpc_port": 3 },
            { "name": "s1", "devices": ["cpu:1"], "silo_port": 4, "gateway_port": 5, "grpc_port": 6 }
          ],
          "placement": { "text_encoder": "cpu:0", "text_encoder_2": "cpu:0", "text_encoder_3": "cpu:1", "transformer": ["cpu:0", "cpu:1"], "vae": "cpu:0" },
          "cfg_parallel": true,
          "offload": { "warm": true } }
        """, "test");
}

public sealed class CfgParallelTests(CfgParallelCluster fixture) : IClassFixture<CfgParallelCluster>
{
    private ITransformerGrain Transformer(int cpu) => fixture.Cluster.Client.GetGrain<ITransformerGrain>($"tiny-fp32-seed0/transformer@cpu:{cpu}");

    [Fact]
    public async Task A_warm_start_loads_every_grain_before_the_first_job()
    {
        var grains = PlacedSubmodules.All.Select(s => TestClusters.Grain(fixture.Cluster.Client, s, s is PlacedSubmodule.TextEncoder3 ? "cpu:1" : "cpu:0"))
            .Append(Transformer(1)).ToArray();
        GrainReport[] reports = [];
        await TestClusters.WaitForAsync(async () => (reports = await Task.WhenAll(grains.Select(g => g.Report()))).All(r => r.State == SessionState.Active),
            TimeSpan.FromSeconds(20), () => "every grain loaded by the warm start: " + string.Join(", ", reports.Select(r => $"{r.Key} {r.State} {r.LastError}")));
        Assert.All(await Task.WhenAll(grains.Select(g => g.Report())), r => Assert.Equal(1, r.Loads));
    }

    [Fact]
    public async Task Two_transformer_grains_give_the_split_guidance_latents_exactly_and_the_batched_ones_within_fp32_tolerance()
    {
        var request = TestClusters.Request("a lighthouse at dusk", 42, OutputType.Latent);
        var before = await Task.WhenAll(Transformer(0).Report(), Transformer(1).Report());
        var cluster = TestClusters.Latents(await TestClusters.RunAsync(fixture.Cluster.Client, request));

        var pipeline = new Sd3Pipeline(fixture.Local.Components);
        var split = (await pipeline.GenerateAsync(request with { CfgMode = CfgMode.Split })).Latents.ToFloatArray();
        var batched = (await pipeline.GenerateAsync(request with { CfgMode = CfgMode.Batched })).Latents.ToFloatArray();

        // Split guidance is the same arithmetic on the same passes, only on two grains: bit for bit.
        Assert.Equal(split.Select(BitConverter.SingleToInt32Bits), cluster.Select(BitConverter.SingleToInt32Bits));
        // Batched guidance runs both passes as one batch of 2, whose kernels may round differently: fp32 tolerance,
        // |a - b| <= 1e-5 + 1e-4 |b| (latents here are of order 1; float32's epsilon is 1.2e-7).
        Assert.Equal(batched.Length, cluster.Length);
        for (int i = 0; i < batched.Length; i++)
            Assert.True(Math.Abs(cluster[i] - batched[i]) <= 1e-5 + 1e-4 * Math.Abs(batched[i]), $"latent {i}: {cluster[i]} vs batched {batched[i]}");

        // Each grain was bound to its side's embeddings once and ran one pass per step (conditional on s0, unconditional on s1).
        var after = await Task.WhenAll(Transformer(0).Report(), Transformer(1).Report());
        Assert.Equal(("s0", "s1"), (after[0].Silo, after[1].Silo));
        Assert.Equal((request.Steps + 1, request.Steps + 1), (after[0].Calls - before[0].Calls, after[1].Calls - before[1].Calls));
    }
}
