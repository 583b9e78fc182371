using Orleans.Runtime.MembershipService.SiloMetadata;
using Sd3Mesh.Runtime.Placement;
using IGrainFactory = Orleans.IGrainFactory;
using IManagementGrain = Orleans.Runtime.IManagementGrain;

namespace Sd3Mesh.Server.Dashboard;

/// <summary>A grain with a device in its key (NAME@DEVICE) activated on a silo (its name in the cluster config).</summary>
public sealed record GrainActivation(DeviceKey Key, string Silo);

/// <summary>Where the cluster's device grains are activated now, as the runtime (not the config) says.</summary>
public interface IGrainActivations
{
    Task<IReadOnlyList<GrainActivation>> ListAsync(CancellationToken cancellationToken);
}

/// <summary>A host without a grain runtime has no activations.</summary>
public sealed class NoActivations : IGrainActivations
{
    public Task<IReadOnlyList<GrainActivation>> ListAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<GrainActivation>>([]);
}

/// <summary>
/// Orleans' own answer: every activation in the cluster (<see cref="IManagementGrain.GetDetailedGrainStatistics"/>, one
/// call that each silo answers from its catalog, touching no grain), its silo named by that silo's metadata
/// (<see cref="ISiloMetadataCache"/>). Activations without a device key (Orleans' and the Orleans dashboard's own
/// grains) are left out.
/// </summary>
public sealed class OrleansGrainActivations(IGrainFactory grains, ISiloMetadataCache metadata) : IGrainActivations
{
    public async Task<IReadOnlyList<GrainActivation>> ListAsync(CancellationToken cancellationToken)
    {
        var statistics = await grains.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics().WaitAsync(cancellationToken).ConfigureAwait(false);
        var activations = new List<GrainActivation>();
        foreach (var s in statistics)
        {
            string key = s.GrainId.Key.ToString() ?? "";
            int at = key.LastIndexOf('@');
            if (at <= 0 || !Onnx.Device.TryParse(key[(at + 1)..], out var device)) continue;
            string silo = SiloDevices.Name(metadata.GetSiloMetadata(s.SiloAddress)) ?? s.SiloAddress.ToString();
            activations.Add(new GrainActivation(new DeviceKey(key[..at], device), silo));
        }
        return activations;
    }
}
