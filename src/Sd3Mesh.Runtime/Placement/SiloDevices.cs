using Orleans.Runtime.MembershipService.SiloMetadata;
using Sd3Mesh.Onnx;

namespace Sd3Mesh.Runtime.Placement;

/// <summary>
/// What a silo advertises to the cluster through Orleans' silo metadata: its name in the cluster config
/// and the devices it owns. Every silo can read every other silo's metadata (<see cref="ISiloMetadataCache"/>).
/// </summary>
public static class SiloDevices
{
    public const string DevicesKey = "sd3mesh.devices";
    public const string NameKey = "sd3mesh.silo";
    public const string TransportKey = "sd3mesh.transport";

    /// <summary>The metadata a silo publishes (<c>UseSiloMetadata</c>).</summary>
    public static Dictionary<string, string> Metadata(string siloName, IEnumerable<Device> devices, Uri? transport) => new()
    {
        [NameKey] = siloName,
        [DevicesKey] = string.Join(',', devices.Select(d => d.ToString())),
        [TransportKey] = transport?.ToString() ?? "",
    };

    public static IReadOnlyList<Device> Devices(SiloMetadata metadata) =>
        metadata.Metadata.TryGetValue(DevicesKey, out var list) && list.Length > 0
            ? list.Split(',').Select(Device.Parse).ToArray()
            : [];

    public static string? Name(SiloMetadata metadata) => metadata.Metadata.GetValueOrDefault(NameKey);

    public static Uri? Transport(SiloMetadata metadata) =>
        metadata.Metadata.TryGetValue(TransportKey, out var t) && t.Length > 0 ? new Uri(t) : null;
}
