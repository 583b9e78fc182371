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
    public const string StartedKey = "sd3mesh.started";

    /// <summary>The metadata a silo publishes (<c>UseSiloMetadata</c>).</summary>
    public static Dictionary<string, string> Metadata(string siloName, IEnumerable<Device> devices, Uri? transport) => new()
    {
        [NameKey] = siloName,
        [DevicesKey] = string.Join(',', devices.Select(d => d.ToString())),
        [TransportKey] = transport?.ToString() ?? "",
        [StartedKey] = DateTime.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
    };

    public static IReadOnlyList<Device> Devices(SiloMetadata metadata) =>
        metadata.Metadata.TryGetValue(DevicesKey, out var list) && list.Length > 0
            ? list.Split(',').Select(Device.Parse).ToArray()
            : [];

    public static string? Name(SiloMetadata metadata) => metadata.Metadata.GetValueOrDefault(NameKey);

    public static DateTime? Started(SiloMetadata metadata) =>
        metadata.Metadata.TryGetValue(StartedKey, out var t) && DateTime.TryParse(t, System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.RoundtripKind, out var started) ? started : null;

    public static Uri? Transport(SiloMetadata metadata) =>
        metadata.Metadata.TryGetValue(TransportKey, out var t) && t.Length > 0 ? new Uri(t) : null;
}
