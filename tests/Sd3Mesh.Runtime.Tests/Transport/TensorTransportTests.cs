using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Runtime.Tensors;
using Sd3Mesh.Runtime.Transport;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Tests.Transport;

internal sealed class ManualClock : TimeProvider
{
    public DateTimeOffset Now { get; set; } = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);
    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>Two silo hosts on loopback: s0 reads, s1 publishes (its streams can be held by a gate, its clock moved).</summary>
public sealed class TwoTransportSilos : IAsyncLifetime
{
    internal TransportHost S0 { get; private set; } = null!;
    internal TransportHost S1 { get; private set; } = null!;
    internal StreamGate Gate { get; } = new();
    internal ManualClock Clock { get; } = new();

    public async Task InitializeAsync()
    {
        S0 = await TransportHost.StartAsync("s0");
        S1 = await TransportHost.StartAsync("s1", new TensorTransportOptions { Time = Clock }, configure: b =>
        {
            b.Services.AddSingleton(Gate);
            b.Services.AddGrpc(o => o.Interceptors.Add<StreamGate>());
        });
    }

    public async Task DisposeAsync()
    {
        await S0.DisposeAsync();
        await S1.DisposeAsync();
    }
}

public sealed class TensorTransportTests(TwoTransportSilos silos) : IClassFixture<TwoTransportSilos>
{
    private const int MiB = 1024 * 1024;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static Tensor RandomTensor(DType dtype, int seed, params long[] shape)
    {
        var tensor = Tensor.Zeros(dtype, new TensorShape(shape));
        new Random(seed).NextBytes(tensor.Data.Span);
        return tensor;
    }

    private static void AssertSame(Tensor expected, Tensor actual)
    {
        Assert.Equal((expected.DType, expected.Shape), (actual.DType, actual.Shape));
        Assert.True(expected.Data.Span.SequenceEqual(actual.Data.Span), "the bytes differ");
    }

    [Theory]
    [InlineData(DType.Float32, new long[] { 2, 16, 8, 8 })]         // 8 KiB: inline in the reference
    [InlineData(DType.Float16, new long[] { 1, 16, 128, 256 })]     // 1 MiB: exactly one chunk
    [InlineData(DType.Int64, new long[] { 131073 })]                // 1 MiB + 8 bytes: one element past a chunk boundary
    [InlineData(DType.BFloat16, new long[] { 2, 333, 4096 })]       // 5.2 MiB: T5's prompt embeddings in bfloat16
    [InlineData(DType.Float32, new long[] { 16, 1024, 1024 })]      // 64 MiB
    [InlineData(DType.UInt8, new long[] { 65537 })]                 // one byte over the inline limit
    public async Task A_tensor_published_on_one_silo_resolves_on_the_other_byte_for_byte(DType dtype, long[] shape)
    {
        var tensor = RandomTensor(dtype, shape.Length, shape);
        var reference = silos.S1.Exchange.Publish(tensor);
        bool inline = tensor.ByteCount <= TensorStore.InlineLimit;
        Assert.Equal(inline, reference.Inline is not null);
        Assert.Equal(inline ? ("", "") : ("s1", silos.S1.Endpoint.ToString()), (reference.Silo, reference.Endpoint));

        var received = await silos.S0.Exchange.ResolveAsync(reference);
        AssertSame(tensor, received);
        Assert.NotSame(tensor, received);
        Assert.Null(silos.S1.Store.Find(reference.Id)); // delivered, so dropped by its owner
    }

    [Fact]
    public async Task On_its_own_silo_a_reference_resolves_to_the_tensor_itself_once()
    {
        var tensor = RandomTensor(DType.Float32, 1, 1, 16, 64, 64);
        var reference = silos.S1.Exchange.Publish(tensor);
        Assert.Same(tensor, await silos.S1.Exchange.ResolveAsync(reference));
        var again = await Assert.ThrowsAsync<InvalidOperationException>(() => silos.S1.Exchange.ResolveAsync(reference));
        Assert.Contains($"float32 [1, 16, 64, 64] at s1/{reference.Id} is no longer held by silo s1", again.Message);
    }

    [Fact]
    public async Task The_stream_is_a_header_then_chunks_of_the_configured_size_in_order()
    {
        var tensor = RandomTensor(DType.Float32, 2, 2 * MiB / 4 + 3); // 2 MiB + 12 bytes
        var reference = silos.S1.Exchange.Publish(tensor);
        var client = new TensorTransport.TensorTransportClient(silos.S0.Channels.For(silos.S1.Endpoint));
        using var call = client.Fetch(new FetchRequest { TensorId = reference.Id });
        var frames = new List<TensorFrame>();
        await foreach (var frame in call.ResponseStream.ReadAllAsync()) frames.Add(frame);

        Assert.Equal((1, (ulong)(2 * MiB + 12)), (frames[0].Header.Dtype, frames[0].Header.TotalBytes));
        Assert.Equal([2 * MiB / 4 + 3], frames[0].Header.Shape);
        Assert.Equal([(0UL, MiB), ((ulong)MiB, MiB), (2UL * MiB, 12)], frames.Skip(1).Select(f => (f.Chunk.Offset, f.Chunk.Data.Length)));
        Assert.True(frames.Skip(1).SelectMany(f => f.Chunk.Data).SequenceEqual(tensor.Data.ToArray()));
    }

    [Fact]
    public async Task An_unknown_a_delivered_and_an_expired_tensor_are_not_found_naming_the_id_and_the_silo()
    {
        var reference = silos.S1.Exchange.Publish(RandomTensor(DType.Float16, 3, 1, 16, 64, 64));
        var unknown = reference with { Id = "0123abcd" };
        var e = await Assert.ThrowsAsync<RpcException>(() => silos.S0.Exchange.ResolveAsync(unknown));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.Equal($"fetching float16 [1, 16, 64, 64] at s1/0123abcd (128 KiB) from silo s1 at {silos.S1.Endpoint}: " +
            "silo s1 holds no tensor '0123abcd' (never published there, delivered already, or expired after 00:10:00)", e.Status.Detail);

        await silos.S0.Exchange.ResolveAsync(reference);
        var delivered = await Assert.ThrowsAsync<RpcException>(() => silos.S0.Exchange.ResolveAsync(reference));
        Assert.Equal(StatusCode.NotFound, delivered.StatusCode);
        Assert.Contains($"silo s1 holds no tensor '{reference.Id}'", delivered.Status.Detail);

        var expiring = silos.S1.Exchange.Publish(RandomTensor(DType.Float16, 4, 1, 16, 64, 64));
        silos.Clock.Now += TimeSpan.FromMinutes(10);
        var expired = await Assert.ThrowsAsync<RpcException>(() => silos.S0.Exchange.ResolveAsync(expiring));
        Assert.Equal(StatusCode.NotFound, expired.StatusCode);
        Assert.Contains($"silo s1 holds no tensor '{expiring.Id}'", expired.Status.Detail);
    }

    [Fact]
    public async Task A_tensor_larger_than_the_receivers_limit_fails_before_any_byte_moves()
    {
        var tensor = RandomTensor(DType.Float32, 5, 1, 16, 128, 128); // 1 MiB
        var reference = silos.S1.Exchange.Publish(tensor);
        var small = new GrpcTensorExchange(silos.S0.Store, silos.S0.Channels, new TensorTransportOptions { MaxTensorBytes = 512 * 1024 });
        var e = await Assert.ThrowsAsync<RpcException>(() => small.ResolveAsync(reference));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Equal($"float32 [1, 16, 128, 128] at s1/{reference.Id} is 1 MiB (1048576 bytes); silo s0 fetches at most " +
            "512 KiB (524288 bytes) from another silo (TensorTransportOptions.MaxTensorBytes)", e.Status.Detail);
        Assert.Same(tensor, silos.S1.Store.Find(reference.Id));

        // The owner checks the limit too (a reference that understates the size), before the header.
        var client = new TensorTransport.TensorTransportClient(silos.S0.Channels.For(silos.S1.Endpoint));
        var owner = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = client.Fetch(new FetchRequest { TensorId = reference.Id, MaxBytes = 1000 });
            await call.ResponseStream.MoveNext();
        });
        Assert.Equal((StatusCode.ResourceExhausted, $"tensor '{reference.Id}' of silo s1 is 1048576 bytes, more than the receiver's limit of 1000 bytes"),
            (owner.StatusCode, owner.Status.Detail));
        AssertSame(tensor, await silos.S0.Exchange.ResolveAsync(reference)); // still there for a reader that accepts it
    }

    [Fact]
    public async Task Cancelling_a_fetch_midway_stops_the_owners_stream_and_leaves_the_tensor_to_fetch_again()
    {
        var tensor = RandomTensor(DType.Float16, 6, 8, 1024, 1024); // 16 MiB, 16 chunks
        var reference = silos.S1.Exchange.Publish(tensor);
        using var hold = silos.Gate.Arm(afterFrames: 3); // the header and two chunks
        using var cancel = new CancellationTokenSource();
        var fetch = silos.S0.Exchange.ResolveAsync(reference, cancel.Token);
        await hold.Reached.Task.WaitAsync(Wait);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fetch.WaitAsync(Wait));
        await hold.ServerCancelled.Task.WaitAsync(Wait);
        Assert.Same(tensor, silos.S1.Store.Find(reference.Id));
        AssertSame(tensor, await silos.S0.Exchange.ResolveAsync(reference));
    }

    [Fact]
    public async Task A_fetch_past_its_deadline_is_deadline_exceeded_naming_the_tensor_and_the_silo()
    {
        var tensor = RandomTensor(DType.Float32, 7, 4, 1024, 1024); // 16 MiB
        var reference = silos.S1.Exchange.Publish(tensor);
        var hasty = new GrpcTensorExchange(silos.S0.Store, silos.S0.Channels, new TensorTransportOptions { FetchTimeout = TimeSpan.FromSeconds(1) });
        // The channel's connection is up and the code paths warm (the first call in a test run can take a second): the deadline is the stream's.
        await silos.S0.Exchange.ResolveAsync(silos.S1.Exchange.Publish(RandomTensor(DType.Float32, 9, 1 << 17)));
        using var hold = silos.Gate.Arm(afterFrames: 2);
        var fetch = hasty.ResolveAsync(reference);
        await hold.Reached.Task.WaitAsync(Wait);
        var e = await Assert.ThrowsAsync<RpcException>(() => fetch.WaitAsync(Wait));
        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
        Assert.Equal($"fetching float32 [4, 1024, 1024] at s1/{reference.Id} (16 MiB) from silo s1 at {silos.S1.Endpoint}: " +
            "not complete within the fetch timeout of 00:00:01", e.Status.Detail);
        await hold.ServerCancelled.Task.WaitAsync(Wait); // the owner's handler saw the deadline and stopped
        AssertSame(tensor, await silos.S0.Exchange.ResolveAsync(reference));
    }

    [Fact]
    public async Task Concurrent_fetches_both_ways_share_one_channel_per_peer()
    {
        var tensors = Enumerable.Range(0, 12).Select(i => RandomTensor(DType.Float32, 100 + i, 3, 1000 + 100 * i, 97)).ToArray();
        var fromS1 = tensors[..8].Select(t => silos.S1.Exchange.Publish(t)).ToArray();
        var fromS0 = tensors[8..].Select(t => silos.S0.Exchange.Publish(t)).ToArray();
        using var channels = new TransportChannels();
        var reader = new GrpcTensorExchange(silos.S0.Store, channels, new TensorTransportOptions());
        var received = await Task.WhenAll(fromS1.Select(r => Task.Run(() => reader.ResolveAsync(r)))
            .Concat(fromS0.Select(r => Task.Run(() => silos.S1.Exchange.ResolveAsync(r)))));
        for (int i = 0; i < tensors.Length; i++) AssertSame(tensors[i], received[i]);
        Assert.All(fromS1, r => Assert.Null(silos.S1.Store.Find(r.Id)));
        Assert.All(fromS0, r => Assert.Null(silos.S0.Store.Find(r.Id)));
        Assert.Equal(1, channels.Count);
    }

    [Fact]
    public async Task A_reference_whose_shape_disagrees_with_the_owners_tensor_is_data_loss()
    {
        var reference = silos.S1.Exchange.Publish(RandomTensor(DType.Float32, 8, 2, 256, 256));
        var e = await Assert.ThrowsAsync<RpcException>(() => silos.S0.Exchange.ResolveAsync(reference with { Shape = [256, 2, 256] }));
        Assert.Equal(StatusCode.DataLoss, e.StatusCode);
        Assert.EndsWith($"tensor 's1/{reference.Id}': expected shape [256, 2, 256], the sender announced [2, 256, 256]", e.Status.Detail);
        silos.S1.Store.Remove(reference.Id);
    }

    [Fact]
    public async Task A_silo_that_does_not_answer_is_unavailable_naming_it()
    {
        var port = Sd3Mesh.Runtime.Config.EmbeddedCluster.FreeLoopbackPorts(1)[0];
        var reference = new TensorRef { Id = "x", Silo = "s9", Endpoint = $"http://127.0.0.1:{port}/", DType = (int)DType.Float32, Shape = [1 << 20] };
        using var channels = new TransportChannels();
        var reader = new GrpcTensorExchange(silos.S0.Store, channels, new TensorTransportOptions());
        var e = await Assert.ThrowsAsync<RpcException>(() => reader.ResolveAsync(reference));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.StartsWith($"fetching float32 [1048576] at s9/x (4 MiB) from silo s9 at http://127.0.0.1:{port}/: ", e.Status.Detail);
    }

    [Fact]
    public async Task References_that_cannot_be_fetched_are_argument_errors()
    {
        var bad = new TensorRef { Id = "x", Silo = "s1", Endpoint = silos.S1.Endpoint.ToString(), DType = 99, Shape = [1 << 20] };
        Assert.Equal("a tensor reference that cannot be fetched: tensor 's1/x': unknown dtype code 99 (ONNX TensorProto.DataType) (Parameter 'reference')",
            (await Assert.ThrowsAsync<ArgumentException>(() => silos.S0.Exchange.ResolveAsync(bad))).Message);
        var nowhere = bad with { DType = (int)DType.Float32, Endpoint = "s1:5000" };
        Assert.StartsWith("float32 [1048576] at s1/x: silo s1's endpoint 's1:5000' is not an http(s) address",
            (await Assert.ThrowsAsync<ArgumentException>(() => silos.S0.Exchange.ResolveAsync(nowhere))).Message);
    }

    [Fact]
    public void The_transport_replaces_a_one_silo_exchange_and_its_store()
    {
        var services = new ServiceCollection();
        services.AddSingleton(new TensorStore("s0", "http://127.0.0.1:1/"));
        services.AddSingleton<ITensorExchange>(p => new LocalTensorExchange(p.GetRequiredService<TensorStore>()));
        services.AddTensorTransport("s0", new Uri("http://127.0.0.1:50051"));
        using var provider = services.BuildServiceProvider();
        var exchange = Assert.IsType<GrpcTensorExchange>(provider.GetRequiredService<ITensorExchange>());
        Assert.Single(services, d => d.ServiceType == typeof(TensorStore));
        Assert.Equal(("s0", "http://127.0.0.1:50051/"), (exchange.Silo, provider.GetRequiredService<TensorStore>().Endpoint));
        Assert.Equal("silo s0's transport endpoint 's0:50051' is not an http(s) address (Parameter 'endpoint')",
            Assert.Throws<ArgumentException>(() => services.AddTensorTransport("s0", new Uri("s0:50051"))).Message);
    }

    [Fact]
    public void Options_out_of_range_are_refused_naming_the_setting()
    {
        Assert.Equal("ChunkBytes 524288 is outside 1048576..4194304 (1-4 MiB)",
            Assert.Throws<ArgumentException>(() => new TensorTransportOptions { ChunkBytes = 512 * 1024 }.Validate()).Message);
        Assert.StartsWith("FetchTimeout 00:00:00 must be positive",
            Assert.Throws<ArgumentException>(() => new TensorTransportOptions { FetchTimeout = TimeSpan.Zero }.Validate()).Message);
    }
}
