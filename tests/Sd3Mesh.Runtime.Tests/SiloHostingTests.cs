using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Hosting;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Hosting;

namespace Sd3Mesh.Runtime.Tests;

/// <summary>Two silos configured from one cluster config as `sd3mesh silo` configures them (localhost clustering, real ports).</summary>
public sealed class SiloHostingTests
{
    internal static ClusterConfig TwoSilos()
    {
        var p = EmbeddedCluster.FreeLoopbackPorts(6);
        return ClusterConfigReader.Parse($$"""
            { "name": "hosting-test", "model": { "preset": "tiny" },
              "silos": [
                { "name": "s0", "primary": true, "devices": ["cpu:0"], "silo_port": {{p[0]}}, "gateway_port": {{p[1]}}, "grpc_port": {{p[2]}} },
                { "name": "s1", "devices": ["cpu:1"], "silo_port": {{p[3]}}, "gateway_port": {{p[4]}}, "grpc_port": {{p[5]}} }
              ],
              "placement": { "text_encoder": "cpu:0", "text_encoder_2": "cpu:0", "text_encoder_3": "cpu:1", "transformer": "cpu:0", "vae": "cpu:0" } }
            """, "test");
    }

    [Fact]
    public async Task Silos_from_one_config_form_a_cluster_and_place_by_device()
    {
        var config = TwoSilos();
        var silos = config.Silos.Select(spec =>
        {
            var b = Host.CreateApplicationBuilder();
            b.UseOrleans(silo => silo.UseSd3MeshSilo(config, spec));
            return b.Build();
        }).ToArray();
        foreach (var s in silos) await s.StartAsync();
        try
        {
            var cb = Host.CreateApplicationBuilder();
            cb.UseOrleansClient(c => c.UseSd3MeshCluster(config));
            using var client = cb.Build();
            await client.StartAsync();
            var grains = client.Services.GetRequiredService<IClusterClient>();
            Assert.Equal("s1", await grains.GetGrain<IDeviceProbeGrain>("m/text_encoder_3@cpu:1").SiloName());
            Assert.Equal("s0", await grains.GetGrain<IDeviceProbeGrain>("m/transformer@cpu:0").SiloName());
            await client.StopAsync();
        }
        finally
        {
            foreach (var s in silos.Reverse()) { await s.StopAsync(); s.Dispose(); }
        }
    }
}
