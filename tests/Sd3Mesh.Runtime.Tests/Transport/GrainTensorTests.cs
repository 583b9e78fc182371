using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Hosting;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Sd3Mesh.Runtime.Hosting;
using Sd3Mesh.Runtime.Placement;
using Sd3Mesh.Runtime.Tensors;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Tests.Transport;

public interface ITensorSourceGrain : IGrainWithStringKey
{
    Task<TensorRef> Make(int seed, long[] shape);
}

public interface ITensorSinkGrain : IGrainWithStringKey
{
    Task<Pulled> Pull(string source, int seed, long[] shape);
}

[GenerateSerializer, Immutable]
public sealed record Pulled([property: Id(0)] string Reader, [property: Id(1)] string Owner, [property: Id(2)] bool Inline,
    [property: Id(3)] long[] Shape, [property: Id(4)] string Sha256);

/// <summary>Publishes a seeded float16 tensor and answers with its reference, as a submodule grain hands on its output.</summary>
[DevicePlacement]
public sealed class TensorSourceGrain(ITensorExchange tensors) : Grain, ITensorSourceGrain
{
    public Task<TensorRef> Make(int seed, long[] shape) => Task.FromResult(tensors.Publish(GrainTensorTests.Seeded(seed, shape)));
}

/// <summary>Asks a source grain for a tensor and resolves the reference wherever the source was placed.</summary>
[DevicePlacement]
public sealed class TensorSinkGrain(ITensorExchange tensors) : Grain, ITensorSinkGrain
{
    public async Task<Pulled> Pull(string source, int seed, long[] shape)
    {
        var reference = await GrainFactory.GetGrain<ITensorSourceGrain>(source).Make(seed, shape);
        var tensor = await tensors.ResolveAsync(reference);
        return new Pulled(tensors.Silo, reference.Silo, reference.Inline is not null, tensor.Shape.ToArray(), GrainTensorTests.Sha256(tensor));
    }
}

/// <summary>Two silos as `sd3mesh silo` composes them (Orleans and the tensor transport on one host): grains get the exchange injected.</summary>
public sealed class GrainTensorTests
{
    internal static Tensor Seeded(int seed, long[] shape)
    {
        var tensor = Tensor.Zeros(DType.Float16, new TensorShape(shape));
        new Random(seed).NextBytes(tensor.Data.Span);
        return tensor;
    }

    /// <summary>Until this silo sees every silo active and knows their devices (placement reads both).</summary>
    internal static async Task UntilDevicesAdvertisedAsync(IServiceProvider silo, int devices)
    {
        var membership = silo.GetRequiredService<IClusterMembershipService>();
        var metadata = silo.GetRequiredService<ISiloMetadataCache>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active)
                   .Sum(m => SiloDevices.Devices(metadata.GetSiloMetadata(m.SiloAddress)).Count) < devices)
            await Task.Delay(50, timeout.Token);
    }

    internal static string Sha256(Tensor tensor) => Convert.ToHexString(SHA256.HashData(tensor.Data.Span));

    [Fact]
    public async Task A_grain_resolves_the_reference_another_grain_returned_in_memory_on_its_silo_and_over_grpc_across_silos()
    {
        var config = SiloHostingTests.TwoSilos();
        var silos = new List<TransportHost>();
        try
        {
            foreach (var spec in config.Silos)
                silos.Add(await TransportHost.StartAsync(spec.Name, port: spec.GrpcPort,
                    configure: b => b.UseOrleans(silo => silo.UseSd3MeshSilo(config, spec))));
            await UntilDevicesAdvertisedAsync(silos[0].App.Services, config.AllDevices.Count());
            var grains = silos[0].App.Services.GetRequiredService<IGrainFactory>();
            var sink = grains.GetGrain<ITensorSinkGrain>("m/sink@cpu:0");
            long[] latents = [2, 16, 64, 64]; // 256 KiB in float16

            var across = await sink.Pull("m/source@cpu:1", 11, latents);
            Assert.Equal(("s0", "s1", false), (across.Reader, across.Owner, across.Inline));
            Assert.Equal(latents, across.Shape);
            Assert.Equal(Sha256(Seeded(11, latents)), across.Sha256);

            var local = await sink.Pull("m/source@cpu:0", 12, latents);
            Assert.Equal(("s0", "s0", false, Sha256(Seeded(12, latents))), (local.Reader, local.Owner, local.Inline, local.Sha256));

            var small = await sink.Pull("m/source@cpu:1", 13, [1, 16]);
            Assert.Equal((true, Sha256(Seeded(13, [1, 16]))), (small.Inline, small.Sha256));
            Assert.All(silos, s => Assert.Equal(0, s.Store.Count));
        }
        finally
        {
            foreach (var s in Enumerable.Reverse(silos)) await s.DisposeAsync();
        }
    }
}
