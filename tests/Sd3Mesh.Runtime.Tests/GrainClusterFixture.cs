using Grpc.Core;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Hosting;

namespace Sd3Mesh.Runtime.Tests;

/// <summary>
/// Two in-process silos serving the cached tiny model as local-2cpu.json lays it out: s0 owns cpu:0 (CLIPs,
/// transformer, VAE, coordinators), s1 owns cpu:1 (T5). Also the one-process model, for comparisons. Its silos
/// carry <see cref="StageFaults"/>, which fails a chosen grain method for the calls of one job.
/// </summary>
public sealed class GrainClusterFixture : IAsyncLifetime
{
    public const string ConfigJson = $$"""
        { "name": "grain-test", {{TestClusters.Model}},
          "silos": [
            { "name": "s0", "primary": true, "devices": ["cpu:0"], "silo_port": 1, "gateway_port": 2, "grpc_port": 3 },
            { "name": "s1", "devices": ["cpu:1"], "silo_port": 4, "gateway_port": 5, "grpc_port": 6 }
          ],
          "placement": { "text_encoder": "cpu:0", "text_encoder_2": "cpu:0", "text_encoder_3": "cpu:1", "transformer": "cpu:0", "vae": "cpu:0" } }
        """;

    public ClusterConfig Config { get; } = ClusterConfigReader.Parse(ConfigJson, "test");
    public RuntimeTestCluster Cluster { get; private set; } = null!;
    public OnnxSd3Model Local { get; private set; } = null!;
    public IClusterClient Client => Cluster.Client;

    public async Task InitializeAsync()
    {
        Local = OnnxSd3Model.Open(RuntimeServices.ResolveModel(Config.Model));
        Cluster = await TestClusters.DeployAsync(Config, silo => silo.AddIncomingGrainCallFilter<StageFaults>());
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        Local.Dispose();
    }
}

/// <summary>The test classes that share one <see cref="GrainClusterFixture"/> (its silos start once).</summary>
[CollectionDefinition(Name)]
public sealed class GrainClusterCollection : ICollectionFixture<GrainClusterFixture>
{
    public const string Name = "grain cluster";
}

/// <summary>
/// Makes a stage grain throw, for the calls of one job only: the caller puts "KIND Interface.Method" in the request
/// context (which Orleans carries from the job's coordinator call down to every grain call it makes). KIND is the
/// exception: "invalid" an InvalidOperationException, "rpc" an RpcException (as a failed tensor fetch throws),
/// "device" a DeviceUnavailableException, "request" a GenerationRequestException.
/// </summary>
public sealed class StageFaults : IIncomingGrainCallFilter
{
    public const string Key = "sd3mesh-test-fault";

    public static string Message(string method) => $"injected fault in {method}";

    public Task Invoke(IIncomingGrainCallContext context)
    {
        if (RequestContext.Get(Key) is not string fault) return context.Invoke();
        var (kind, method) = (fault[..fault.IndexOf(' ')], fault[(fault.IndexOf(' ') + 1)..]);
        if (method != $"{context.InterfaceMethod.DeclaringType!.Name}.{context.InterfaceMethod.Name}") return context.Invoke();
        throw kind switch
        {
            "rpc" => new RpcException(new Status(StatusCode.DeadlineExceeded, Message(method))),
            "device" => new DeviceUnavailableException(new Device(DeviceKind.Cuda, 7), Message(method)),
            "request" => new GenerationRequestException([new ValidationError("width", Message(method))]),
            _ => new InvalidOperationException(Message(method)),
        };
    }
}
