using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sd3Mesh.Runtime.Config;

/// <summary>The JSON of a cluster config as written (snake_case), before validation. See cluster/README.md.</summary>
internal sealed class ClusterConfigFile
{
    public string? Name { get; set; }
    public ModelFile? Model { get; set; }
    public List<SiloFile>? Silos { get; set; }
    /// <summary>Submodule name -> a device string, a list of them (replicas / CFG-parallel), or null (not placed: T5 only).</summary>
    public Dictionary<string, JsonElement>? Placement { get; set; }
    public Dictionary<string, DeviceFile>? Devices { get; set; }
    public bool? CfgParallel { get; set; }
    public OffloadFile? Offload { get; set; }
    public JobsFile? Jobs { get; set; }
    public StoreFile? Store { get; set; }
    public ClusteringFile? Clustering { get; set; }
    /// <summary>Submodule name -> the device its grain moves to when the silo of its placed device is declared dead.</summary>
    public Dictionary<string, string>? Fallback { get; set; }

    internal sealed class ModelFile
    {
        public string? Path { get; set; }
        public string? Preset { get; set; }
        public string? Precision { get; set; }
        public ulong? Seed { get; set; }
    }

    internal sealed class SiloFile
    {
        public string? Name { get; set; }
        public bool? Primary { get; set; }
        public string? Host { get; set; }
        public int? SiloPort { get; set; }
        public int? GatewayPort { get; set; }
        public int? GrpcPort { get; set; }
        public int? WebPort { get; set; }
        public List<string>? Devices { get; set; }
        public Dictionary<string, string>? LocalDevices { get; set; }
    }

    internal sealed class DeviceFile
    {
        public string? MemoryBudget { get; set; }
    }

    internal sealed class OffloadFile
    {
        public string? IdleTimeout { get; set; }
        public bool? Warm { get; set; }
    }

    internal sealed class JobsFile
    {
        public int? MaxInFlight { get; set; }
        public int? QueueCapacity { get; set; }
        public int? ClientQueueCapacity { get; set; }
    }

    internal sealed class ClusteringFile
    {
        public string? Redis { get; set; }
    }

    internal sealed class StoreFile
    {
        public string? Data { get; set; }
        public string? Postgres { get; set; }
        public int? CheckpointEvery { get; set; }
    }

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };
}
