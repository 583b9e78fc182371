using Orleans.TestingHost;
using Sd3Mesh.Models;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Hosting;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Tests;

/// <summary>
/// Two in-process silos serving the cached tiny model as local-2cpu.json lays it out: s0 owns cpu:0 (CLIPs,
/// transformer, VAE, coordinators), s1 owns cpu:1 (T5). Also the one-process model, for comparisons.
/// </summary>
public sealed class GrainClusterFixture : IAsyncLifetime
{
    public const string ConfigJson = """
        { "name": "grain-test", "model": { "preset": "tiny" },
          "silos": [
            { "name": "s0", "primary": true, "devices": ["cpu:0"], "silo_port": 1, "gateway_port": 2, "grpc_port": 3 },
            { "name": "s1", "devices": ["cpu:1"], "silo_port": 4, "gateway_port": 5, "grpc_port": 6 }
          ],
          "placement": { "text_encoder": "cpu:0", "text_encoder_2": "cpu:0", "text_encoder_3": "cpu:1", "transformer": "cpu:0", "vae": "cpu:0" } }
        """;

    public ClusterConfig Config { get; } = ClusterConfigReader.Parse(ConfigJson, "test");
    public InProcessTestCluster Cluster { get; private set; } = null!;
    public OnnxSd3Model Local { get; private set; } = null!;
    public IClusterClient Client => Cluster.Client;

    public async Task InitializeAsync()
    {
        var folder = RuntimeServices.ResolveModel(Config.Model);
        Local = OnnxSd3Model.Open(folder);
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((options, silo) =>
            silo.AddSd3MeshGrains(Config, Config.Silo(options.SiloName == "Silo_0" ? "s0" : "s1")));
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        Local.Dispose();
    }
}
