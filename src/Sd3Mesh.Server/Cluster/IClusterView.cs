using Sd3Mesh.Protos.V1;

namespace Sd3Mesh.Server.Cluster;

/// <summary>What the Cluster API (and `sd3mesh placement`, the dashboard) shows: the silos, their devices, the grains on them.</summary>
public interface IClusterView
{
    Task<IReadOnlyList<Silo>> SilosAsync(CancellationToken cancellationToken);
    Task<IReadOnlyList<Device>> DevicesAsync(CancellationToken cancellationToken);
    Task<IReadOnlyList<Grain>> GrainsAsync(CancellationToken cancellationToken);
}

/// <summary>A silo on its own (tests of the job API without a grain runtime): itself, its inventory's devices, its directory's grains.</summary>
public sealed class LocalClusterView(SiloInfo silo, IDeviceInventory devices, IGrainDirectory grains) : IClusterView
{
    public Task<IReadOnlyList<Silo>> SilosAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<Silo>>([silo.ToProto(devices.Devices(silo.Id).Select(d => d.Name))]);

    public Task<IReadOnlyList<Device>> DevicesAsync(CancellationToken cancellationToken) => Task.FromResult(devices.Devices(silo.Id));

    public Task<IReadOnlyList<Grain>> GrainsAsync(CancellationToken cancellationToken) => Task.FromResult(grains.Grains(silo.Id));
}
