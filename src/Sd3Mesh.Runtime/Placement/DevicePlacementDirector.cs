using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;
using Sd3Mesh.Runtime.Config;

namespace Sd3Mesh.Runtime.Placement;

/// <summary>
/// One rule: a grain keyed <c>NAME@DEVICE</c> is activated on the active silo that advertises DEVICE. When no silo
/// does (its silo was declared dead), a grain whose submodule has a fallback in the config (<see cref="Fallbacks"/>) is
/// activated on the active silo that advertises the fallback device instead. Otherwise the call fails with a message
/// that names the grain, the device, the silo that owned it and the devices each active silo does own.
/// </summary>
public sealed class DevicePlacementDirector(ISiloMetadataCache metadata, ClusterConfig config, ILogger<DevicePlacementDirector> logger)
    : IPlacementDirector
{
    /// <summary>How long placement waits for a silo's metadata to reach this silo's cache (right after it joined).</summary>
    public static readonly TimeSpan MetadataWait = TimeSpan.FromSeconds(5);

    public async Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var key = DeviceKey.Parse(target.GrainIdentity.Key.ToString()!);
        var silos = context.GetCompatibleSilos(target);
        // A silo that has just joined (this one, at start) may not have its metadata in the cache yet: wait for it
        // rather than call its devices unowned.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (silos.Any(s => SiloDevices.Name(metadata.GetSiloMetadata(s)) is null) && clock.Elapsed < MetadataWait)
            await Task.Delay(50);
        var owners = Owners(silos, key.Device);
        if (owners.Length > 0) return Pick(owners, context);

        string lost = config.Silos.FirstOrDefault(s => s.Devices.Contains(key.Device))?.Name is { } name ? $"silo {name}" : "no silo";
        var fallback = config.FallbackFor(key);
        if (fallback is { } device && Owners(silos, device) is { Length: > 0 } standby)
        {
            logger.LogWarning("{Grain}: no active silo owns {Device} ({Lost} is gone); activating it on its fallback {Fallback}",
                key.ToString(), key.Device.ToString(), lost, device.ToString());
            return Pick(standby, context);
        }
        var known = string.Join("; ", silos.Select(s =>
        {
            var m = metadata.GetSiloMetadata(s);
            return $"{SiloDevices.Name(m) ?? s.ToString()}: {string.Join(", ", SiloDevices.Devices(m))}";
        }));
        throw new DevicePlacementException(key.Name, key.Device,
            $"no active silo owns {key.Device} (its owner in the config: {lost}" +
            (fallback is { } f ? $"; nor its fallback {f}" : "; no fallback configured") +
            $"; active silos and their devices: {(known.Length > 0 ? known : "none")})");
    }

    private SiloAddress[] Owners(SiloAddress[] silos, Onnx.Device device) =>
        silos.Where(s => SiloDevices.Devices(metadata.GetSiloMetadata(s)).Contains(device)).ToArray();

    // Two silos owning one device is a config error the validator refuses; prefer the local one if it happens.
    private static SiloAddress Pick(SiloAddress[] owners, IPlacementContext context) =>
        owners.Contains(context.LocalSilo) ? context.LocalSilo : owners[0];
}
