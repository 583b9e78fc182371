using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;

namespace Sd3Mesh.Runtime.Placement;

/// <summary>
/// One rule: a grain keyed <c>NAME@DEVICE</c> is activated on the active silo that advertises DEVICE. When no
/// silo does (its silo is down, or the key names a device nobody owns) the call fails with a message that
/// names the grain, the device and the devices each silo does own.
/// </summary>
public sealed class DevicePlacementDirector(ISiloMetadataCache cache, IOptions<SiloMetadata> local) : IPlacementDirector
{
    /// <summary>
    /// A silo's advertised metadata. The local silo's own comes from its options: the cache learns even the local silo
    /// only as membership converges, so a just-started silo would otherwise not see its own devices for a moment.
    /// </summary>
    private SiloMetadata Metadata(SiloAddress silo, IPlacementContext context) =>
        silo.Equals(context.LocalSilo) ? local.Value : cache.GetSiloMetadata(silo);

    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var key = DeviceKey.Parse(target.GrainIdentity.Key.ToString()!);
        var silos = context.GetCompatibleSilos(target);
        var owners = silos.Where(s => SiloDevices.Devices(Metadata(s, context)).Contains(key.Device)).ToArray();
        if (owners.Length == 0)
        {
            var known = string.Join("; ", silos.Select(s =>
            {
                var m = Metadata(s, context);
                return $"{SiloDevices.Name(m) ?? s.ToString()}: {string.Join(", ", SiloDevices.Devices(m))}";
            }));
            throw new DevicePlacementException(key.Name, key.Device,
                $"no active silo owns {key.Device} (active silos and their devices: {(known.Length > 0 ? known : "none")})");
        }
        // Two silos owning one device is a config error the validator refuses; prefer the local one if it happens.
        return Task.FromResult(owners.Contains(context.LocalSilo) ? context.LocalSilo : owners[0]);
    }
}
