using System.Reflection;
using Google.Protobuf.WellKnownTypes;
using Sd3Mesh.Protos.V1;

namespace Sd3Mesh.Server.Cluster;

/// <summary>This silo process as the Cluster service reports it.</summary>
public sealed class SiloInfo(string id)
{
    public string Id { get; } = id;
    public string Address { get; set; } = "";
    public SiloStatus Status { get; set; } = SiloStatus.Joining;
    public DateTime StartedAt { get; } = DateTime.UtcNow;
    public bool Primary { get; init; } = true;

    public static string Version { get; } =
        typeof(SiloInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(SiloInfo).Assembly.GetName().Version?.ToString() ?? "0.0.0";

    public Silo ToProto(IEnumerable<string> devices)
    {
        var silo = new Silo
        {
            Id = Id,
            Address = Address,
            Status = Status,
            StartedAt = Timestamp.FromDateTime(StartedAt),
            Primary = Primary,
            Version = Version,
        };
        silo.Devices.AddRange(devices);
        return silo;
    }
}
