using Sd3Mesh.Onnx;
using Sd3Mesh.Runtime.Config;

namespace Sd3Mesh.Runtime.Placement;

/// <summary>
/// Silo failover: which submodule's fallback a grain follows (the config's <c>fallback</c>), and which device a grain
/// activated on a given silo runs on. The placement director and the grain itself apply the same rule, so a grain
/// keyed <c>model/text_encoder_3@cpu:1</c> that the director put on the fallback silo creates its sessions on the
/// fallback device.
/// </summary>
public static class Fallbacks
{
    /// <summary>Keys of job coordinators: job/ID@DEVICE, DEVICE a transformer's.</summary>
    public const string JobPrefix = "job/";

    /// <summary>
    /// The submodule whose fallback a grain follows: a submodule grain's own (<c>model/SUBMODULE@DEVICE</c>), the
    /// transformer for a job's coordinator (it sits with its transformer); none for other grains (a device's report).
    /// </summary>
    public static PlacedSubmodule? SubmoduleOf(DeviceKey key)
    {
        if (key.Name.StartsWith(JobPrefix, StringComparison.Ordinal)) return PlacedSubmodule.Transformer;
        return PlacedSubmodules.TryParse(key.Name[(key.Name.LastIndexOf('/') + 1)..], out var submodule) ? submodule : null;
    }

    /// <summary>The device the grain goes to when no active silo owns its key's device; null: none configured.</summary>
    public static Device? FallbackFor(this ClusterConfig config, DeviceKey key) =>
        SubmoduleOf(key) is { } submodule && config.Fallback.TryGetValue(submodule, out var device) ? device : null;

    /// <summary>
    /// The device a grain keyed <paramref name="key"/> runs on when activated on <paramref name="silo"/>: the key's own
    /// when the silo owns it, else the submodule's fallback when the silo owns that (its own silo was declared dead).
    /// </summary>
    public static Device DeviceOn(this ClusterConfig config, SiloSpec silo, DeviceKey key)
    {
        if (silo.Devices.Contains(key.Device)) return key.Device;
        if (config.FallbackFor(key) is { } fallback && silo.Devices.Contains(fallback)) return fallback;
        throw new DevicePlacementException(key.Name, key.Device,
            $"it was activated on silo {silo.Name}, which owns neither {key.Device} nor a fallback for it ({string.Join(", ", silo.Devices)})");
    }
}
