using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Reflection.V1Alpha;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Rpc;
using Sd3Mesh.Server.Cluster;
using Sd3Mesh.Server.Transport;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Server.Tests;

public class ClusterTests
{
    private static Method<TReq, TResp> M<TReq, TResp>(string name)
        where TReq : class, IMessage<TReq> where TResp : class, IMessage<TResp> =>
        Method<TReq, TResp>.From(ClusterService.Descriptor, name);

    [Fact]
    public async Task The_single_silo_reports_itself_its_cpu_device_and_no_grains_yet()
    {
        await using var silo = await TestSilo.StartAsync(new SiloHostOptions { SiloId = "silo-test", CpuBudgetBytes = 1UL << 30 });
        var silos = await silo.Channel.UnaryAsync(M<ListSilosRequest, ListSilosResponse>("ListSilos"), new ListSilosRequest());
        var self = Assert.Single(silos.Silos);
        Assert.Equal(("silo-test", silo.Host.Address.ToString().TrimEnd('/'), SiloStatus.Active, true), (self.Id, self.Address, self.Status, self.Primary));
        Assert.Equal(["cpu"], self.Devices);
        Assert.InRange(self.StartedAt.ToDateTime(), DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow);

        var devices = await silo.Channel.UnaryAsync(M<ListDevicesRequest, ListDevicesResponse>("ListDevices"), new ListDevicesRequest());
        var cpu = Assert.Single(devices.Devices);
        Assert.Equal(("cpu", "cpu", "silo-test"), (cpu.Name, cpu.Kind, cpu.SiloId));
        Assert.Equal((ulong)GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, cpu.MemoryTotalBytes);
        Assert.InRange(cpu.MemoryUsedBytes, 1UL << 20, cpu.MemoryTotalBytes);
        Assert.Equal(1UL << 30, cpu.MemoryBudgetBytes);
        Assert.Contains($"{Environment.ProcessorCount} logical cores", cpu.Description);

        var other = await silo.Channel.UnaryAsync(M<ListDevicesRequest, ListDevicesResponse>("ListDevices"), new ListDevicesRequest { SiloId = "elsewhere" });
        Assert.Empty(other.Devices);
        Assert.Empty((await silo.Channel.UnaryAsync(M<ListGrainsRequest, ListGrainsResponse>("ListGrains"), new ListGrainsRequest())).Grains);
    }

    [Fact]
    public void The_models_device_is_listed_beside_the_cpu()
    {
        var cpu = new CpuDeviceInventory();
        var cuda = new ModelDeviceInventory(cpu, "cuda:0").Devices("s");
        Assert.Equal([("cpu", "cpu"), ("cuda:0", "cuda")], cuda.Select(d => (d.Name, d.Kind)));
        Assert.Equal(("s", "ONNX Runtime Cuda execution provider, adapter 0", 0UL), (cuda[1].SiloId, cuda[1].Description, cuda[1].MemoryTotalBytes));
        Assert.Equal(["cpu"], new ModelDeviceInventory(cpu, DeviceNames.Of(Onnx.Device.Parse("cpu"))).Devices("s").Select(d => d.Name));
        Assert.Equal("cuda:1", DeviceNames.Of(Onnx.Device.Parse("cuda:1")));
    }

    [Fact]
    public async Task Reflection_serves_the_public_api()
    {
        await using var silo = await TestSilo.StartAsync();
        var reflect = Method<ServerReflectionRequest, ServerReflectionResponse>.From(
            ReflectionReflection.Descriptor.FindTypeByName<ServiceDescriptor>("ServerReflection").FindMethodByName("ServerReflectionInfo"));
        using var call = silo.Channel.DuplexStreaming(reflect);
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = "sd3mesh.v1.GenerateRequest" });
        await call.RequestStream.CompleteAsync();
        var responses = new List<ServerReflectionResponse>();
        await foreach (var r in call.ResponseStream) responses.Add(r);
        Assert.Equal(["sd3mesh.v1.Generation", "sd3mesh.v1.Cluster", "sd3mesh.v1.Transport", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"],
            responses[0].ListServicesResponse.Service.Select(s => s.Name));
        var files = responses[1].FileDescriptorResponse.FileDescriptorProto;
        Assert.Equal(GenerationReflection.Descriptor.SerializedData, files[0]);
        Assert.Equal(Google.Protobuf.WellKnownTypes.TimestampReflection.Descriptor.SerializedData, files[1]);
    }
}

public class TransportTests
{
    /// <summary>"vae.scale": multiplies a float32 tensor by a float32 scalar; also returns the input shape as int64.</summary>
    private static TensorCallRegistry Grains() => new TensorCallRegistry()
        .Register("vae", "scale", (inputs, _) =>
        {
            var x = inputs.Single(t => t.Name == "x").Tensor;
            float factor = inputs.Single(t => t.Name == "factor").Tensor.AsSpan<float>()[0];
            var y = x.ToFloatArray().Select(v => v * factor).ToArray();
            return Task.FromResult<IReadOnlyList<NamedTensor>>(
            [
                new NamedTensor("y", Tensor.FromArray(y, x.Shape)),
                new NamedTensor("shape", Tensor.FromArray(x.Shape.ToArray(), x.Shape.Rank)),
            ]);
        })
        .Register("vae", "fail", (_, _) => throw new ArgumentException("latents must have 16 channels, got 4"));

    [Fact]
    public async Task Tensors_round_trip_in_chunks_between_our_client_and_server()
    {
        await using var silo = await TestSilo.StartAsync(grainMethods: Grains());
        await using var client = new TransportClient(silo.Channel, chunkBytes: 1000);
        var values = Enumerable.Range(0, 2 * 16 * 8 * 8).Select(i => (float)Math.Sin(i)).ToArray();
        var x = Tensor.FromArray(values, 2, 16, 8, 8); // 8 KiB: nine chunks of 1000 bytes
        for (int call = 0; call < 3; call++)
        {
            var outputs = await client.CallAsync("vae", "scale", [new("x", x), new("factor", Tensor.FromArray([2f + call], new TensorShape(Array.Empty<long>())))]);
            Assert.Equal(["y", "shape"], outputs.Select(o => o.Name));
            var y = outputs[0].Tensor;
            Assert.Equal((DType.Float32, new TensorShape(2, 16, 8, 8)), (y.DType, y.Shape));
            Assert.Equal(values.Select(v => v * (2f + call)).ToArray(), y.ToArray<float>());
            Assert.Equal([2L, 16L, 8L, 8L], outputs[1].Tensor.ToArray<long>());
        }
    }

    [Fact]
    public async Task Concurrent_calls_on_one_stream()
    {
        await using var silo = await TestSilo.StartAsync(grainMethods: Grains());
        await using var client = new TransportClient(silo.Channel, chunkBytes: 64);
        var calls = Enumerable.Range(1, 8).Select(async k =>
        {
            var outputs = await client.CallAsync("vae", "scale", [new("x", Tensor.FromArray(new[] { 1f, 2f, 3f }, 3)), new("factor", Tensor.FromArray(new[] { (float)k }, 1))]);
            return outputs[0].Tensor.ToArray<float>();
        }).ToList();
        var results = await Task.WhenAll(calls);
        for (int k = 1; k <= 8; k++) Assert.Equal(new[] { k, 2f * k, 3f * k }, results[k - 1]);
    }

    [Fact]
    public async Task Failed_and_unknown_grain_calls_fail_only_that_call()
    {
        await using var silo = await TestSilo.StartAsync(grainMethods: Grains());
        await using var client = new TransportClient(silo.Channel);
        var failed = await Assert.ThrowsAsync<RpcException>(() => client.CallAsync("vae", "fail", []));
        Assert.Equal(new Status(Rpc.StatusCode.InvalidArgument, "latents must have 16 channels, got 4"), failed.Status);
        var unknown = await Assert.ThrowsAsync<RpcException>(() => client.CallAsync("transformer", "denoise", []));
        Assert.Equal(new Status(Rpc.StatusCode.NotFound, "this silo serves no grain method transformer.denoise"), unknown.Status);
        var ok = await client.CallAsync("vae", "scale", [new("x", Tensor.FromArray(new[] { 1f }, 1)), new("factor", Tensor.FromArray(new[] { 3f }, 1))]);
        Assert.Equal([3f], ok[0].Tensor.ToArray<float>());
    }

    [Fact]
    public async Task Cancelling_a_call_midway_through_its_frames_leaves_the_stream_to_the_other_calls()
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var grains = Grains().Register("vae", "hold", async (_, _) =>
        {
            entered.TrySetResult();
            await release.Task; // the server reads no frames meanwhile
            return [];
        });
        // Kestrel's 768 KiB stream window: a 4 MiB call cannot be sent while the server does not read.
        await using var server = new GrpcServer(new GrpcServerOptions { Http2 = Http2Settings.KestrelDefaults });
        server.MapService(TransportService.Descriptor, new TransportService(grains));
        await server.StartAsync();
        using var channel = new GrpcChannel(server.Address);
        await using var client = new TransportClient(channel);

        var held = client.CallAsync("vae", "hold", []);
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(5));
        using var cancel = new CancellationTokenSource();
        var big = client.CallAsync("vae", "scale", [new("x", Tensor.Zeros(DType.Float32, new TensorShape(1024 * 1024))), new("factor", Tensor.FromArray([2f], 1))],
            cancel.Token);
        await Task.Delay(200); // its frames are now stuck on flow control
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => big.WaitAsync(TimeSpan.FromSeconds(5)));

        release.SetResult();
        Assert.Empty(await held.WaitAsync(TimeSpan.FromSeconds(10)));
        var after = await client.CallAsync("vae", "scale", [new("x", Tensor.FromArray(new[] { 1f, 2f }, 2)), new("factor", Tensor.FromArray([3f], 1))]);
        Assert.Equal([3f, 6f], after[0].Tensor.ToArray<float>());
    }

    [Theory]
    [InlineData("gap", "tensor 'x': a chunk at offset 8 leaves a gap (next expected offset 0)")]
    [InlineData("bytes", "tensor 'x': the header says 12 bytes, but a float32 tensor of shape [2] has 8")]
    [InlineData("index", "call '1': a chunk for tensor index 3, but the call has 1 tensors")]
    [InlineData("truncated", "the stream ended inside a call: call '1' (vae.scale): tensor 'x' has 4 of 8 bytes")]
    [InlineData("huge", "tensor 'x': shape [2, 1099511627776, 1099511627776] has more bytes than fit in 64 bits")]
    public async Task Frame_streams_that_do_not_add_up_end_with_invalid_argument(string fault, string message)
    {
        await using var silo = await TestSilo.StartAsync(grainMethods: Grains());
        var exchange = Method<TransportFrame, TransportFrame>.From(TransportService.Descriptor.FindMethodByName("Exchange"));
        using var call = silo.Channel.DuplexStreaming(exchange);
        var header = new CallHeader { CallId = "1", Grain = "vae", Method = "scale" };
        header.Tensors.Add(new TensorHeader { Name = "x", Dtype = (int)DType.Float32, Shape = { 2 }, TotalBytes = fault == "bytes" ? 12UL : 8UL });
        if (fault == "huge") header.Tensors[0].Shape.Add([1L << 40, 1L << 40]); // [2, 2^40, 2^40]
        await call.RequestStream.WriteAsync(new TransportFrame { Header = header });
        var chunk = fault switch
        {
            "gap" => new TensorChunk { CallId = "1", Offset = 8, Data = ByteString.CopyFrom(new byte[4]) },
            "index" => new TensorChunk { CallId = "1", TensorIndex = 3, Data = ByteString.CopyFrom(new byte[4]) },
            _ => new TensorChunk { CallId = "1", Data = ByteString.CopyFrom(new byte[4]) },
        };
        try
        {
            await call.RequestStream.WriteAsync(new TransportFrame { Chunk = chunk });
            await call.RequestStream.CompleteAsync();
        }
        catch (RpcException) { } // the server may end the call before all frames are written
        var error = await Assert.ThrowsAsync<RpcException>(async () => { await foreach (var _ in call.ResponseStream) { } });
        Assert.Equal(new Status(Rpc.StatusCode.InvalidArgument, message), error.Status);
    }
}
