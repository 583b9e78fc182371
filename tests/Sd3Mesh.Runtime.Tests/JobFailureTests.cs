using Grpc.Core;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Stages;

namespace Sd3Mesh.Runtime.Tests;

[Collection(GrainClusterCollection.Name)]
public sealed class JobFailureTests(GrainClusterFixture fixture)
{
    private static readonly TimeSpan NoHang = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("invalid", "IT5EncoderGrain.Encode")] // on s1: the error crosses two silos
    [InlineData("invalid", "ITransformerGrain.Begin")]
    [InlineData("invalid", "ITransformerGrain.Step")]
    [InlineData("invalid", "IVaeGrain.Decode")]
    [InlineData("rpc", "IT5EncoderGrain.Encode")]
    [InlineData("device", "IClipEncoderGrain.Encode")]
    [InlineData("request", "IVaeGrain.Decode")]
    public async Task A_stage_grain_that_throws_ends_the_job_with_its_error_and_the_next_job_runs(string kind, string method)
    {
        // A prompt of its own, so the encoders run (a cached prompt would skip them).
        var request = TestClusters.Request($"a lighthouse at dusk ({kind} {method})");
        RequestContext.Set(StageFaults.Key, $"{kind} {method}");
        Exception e;
        try
        {
            e = await Record.ExceptionAsync(() => TestClusters.RunAsync(fixture.Client, request).WaitAsync(NoHang));
        }
        finally
        {
            RequestContext.Remove(StageFaults.Key);
        }
        // The caller gets the grain's exception, with what its handlers read (status, device, errors per field).
        string message = StageFaults.Message(method);
        switch (kind)
        {
            case "rpc":
                var rpc = Assert.IsType<RpcException>(e);
                Assert.Equal((StatusCode.DeadlineExceeded, message), (rpc.StatusCode, rpc.Status.Detail));
                break;
            case "device":
                var device = Assert.IsType<DeviceUnavailableException>(e);
                Assert.Equal(("cuda:7", message), (device.Device.ToString(), device.Message));
                break;
            case "request":
                Assert.Equal([new ValidationError("width", message)], Assert.IsType<GenerationRequestException>(e).Errors);
                break;
            default:
                Assert.Equal(message, Assert.IsType<InvalidOperationException>(e).Message);
                break;
        }

        // Nothing of the failed job stays in the way (the transformer's lease of it is released).
        var outputs = await TestClusters.RunAsync(fixture.Client, request).WaitAsync(NoHang);
        Assert.Equal((await new Sd3Pipeline(fixture.Local.Components).GenerateAsync(request)).Images[0].ToPng(), Assert.Single(outputs).Data);
    }
}

/// <summary>local-2cpu's layout in a cluster of its own (the test kills a silo).</summary>
public sealed class SiloLossCluster : IAsyncLifetime
{
    public ClusterConfig Config { get; } = ClusterConfigReader.Parse(GrainClusterFixture.ConfigJson.Replace("grain-test", "silo-loss-test"), "test");
    public RuntimeTestCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync() => Cluster = await TestClusters.DeployAsync(Config);
    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

public sealed class SiloLossTests(SiloLossCluster fixture) : IClassFixture<SiloLossCluster>
{
    [Fact]
    public async Task A_job_whose_t5_silo_is_gone_fails_as_unavailable_naming_the_submodule_the_silo_and_the_device()
    {
        var client = fixture.Cluster.Client;
        Assert.Single(await TestClusters.RunAsync(client, TestClusters.Request("a lighthouse at dusk")));
        await fixture.Cluster.Host.KillSiloAsync(fixture.Cluster.Host.Silos[1]);

        var e = await Assert.ThrowsAsync<SubmoduleUnavailableException>(() =>
            TestClusters.RunAsync(client, TestClusters.Request("a red barn in snow")).WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.StartsWith("text_encoder_3 is unavailable: its silo s1 (device cpu:1) does not answer (", e.Message);
    }
}
