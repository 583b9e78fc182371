using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;
using Sd3Mesh.Runtime.Config;

namespace Sd3Mesh.Runtime.Placement;

/// <summary>
/// One rule: a grain keyed <c>NAME@DEVICE</c> is activated on the active silo that advertises DEVICE. When no silo
/// does (its silo was declared dead), a grain whose submodule has a fallback in the config (<see cref="Fallbacks"/>) is
/// activated on the active silo that advertises the fallback device instead. Otherwise the call fails with a message
/// that names the grain, the device, the silo that owned it and the devices each active silo does own. A silo that has
/// just joined is waited for (<see cref="JoinWait"/>) until this silo knows its devices and grain types.
/// </summary>
public sealed class DevicePlacementDirector(ISiloMetadataCache cache, IOptions<SiloMetadata> local, IClusterMembershipService membership,
    ClusterConfig config, ILogger<DevicePlacementDirector> logger) : IPlacementDirector
{
    /// <summary>How long placement waits for a silo that has just joined to be known here (its metadata, its grain types).</summary>
    public static readonly TimeSpan JoinWait = TimeSpan.FromSeconds(5);

    public async Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var key = DeviceKey.Parse(target.GrainIdentity.Key.ToString()!);
        var silos = context.GetCompatibleSilos(target);
        var owners = Owners(silos, key.Device, context);
        // A silo that has just joined may be active before its metadata or its grain types have reached this silo: wait
        // for it rather than call its devices unowned. A dead silo is not active: no wait.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (owners.Length == 0 && clock.Elapsed < JoinWait && Joining(silos, context))
        {
            await Task.Delay(50);
            silos = context.GetCompatibleSilos(target);
            owners = Owners(silos, key.Device, context);
        }
        if (owners.Length > 0) return Pick(owners, context);

        string lost = config.Silos.FirstOrDefault(s => s.Devices.Contains(key.Device))?.Name is { } name ? $"silo {name}" : "no silo";
        var fallback = config.FallbackFor(key);
        if (fallback is { } device && Owners(silos, device, context) is { Length: > 0 } standby)
        {
            logger.LogWarning("{Grain}: no active silo owns {Device} ({Lost} is gone); activating it on its fallback {Fallback}",
                key.ToString(), key.Device.ToString(), lost, device.ToString());
            return Pick(standby, context);
        }
        var known = string.Join("; ", silos.Select(s =>
        {
            var m = Metadata(s, context);
            return $"{SiloDevices.Name(m) ?? s.ToString()}: {string.Join(", ", SiloDevices.Devices(m))}";
        }));
        throw new DevicePlacementException(key.Name, key.Device,
            $"no active silo owns {key.Device} (its owner in the config: {lost}" +
            (fallback is { } f ? $"; nor its fallback {f}" : "; no fallback configured") +
            $"; active silos and their devices: {(known.Length > 0 ? known : "none")})");
    }

    /// <summary>
    /// A silo's advertised metadata. The local silo's own comes from its options: the cache learns even the local silo
    /// only as membership converges, so a just-started silo would otherwise not see its own devices for a moment.
    /// </summary>
    private SiloMetadata Metadata(SiloAddress silo, IPlacementContext context) =>
        silo.Equals(context.LocalSilo) ? local.Value : cache.GetSiloMetadata(silo);

    /// <summary>An active silo is not yet among <paramref name="silos"/>, or one of them has no metadata here yet.</summary>
    private bool Joining(SiloAddress[] silos, IPlacementContext context) =>
        silos.Any(s => SiloDevices.Name(Metadata(s, context)) is null)
        || membership.CurrentSnapshot.Members.Values.Any(m => m.Status == SiloStatus.Active && !silos.Contains(m.SiloAddress));

    private SiloAddress[] Owners(SiloAddress[] silos, Onnx.Device device, IPlacementContext context) =>
        silos.Where(s => SiloDevices.Devices(Metadata(s, context)).Contains(device)).ToArray();

    // Two silos owning one device is a config error the validator refuses; prefer the local one if it happens.
    private static SiloAddress Pick(SiloAddress[] owners, IPlacementContext context) =>
        owners.Contains(context.LocalSilo) ? context.LocalSilo : owners[0];
}
