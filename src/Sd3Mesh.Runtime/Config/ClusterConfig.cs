using Sd3Mesh.Onnx;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Config;

/// <summary>
/// A validated cluster config (<c>cluster/*.json</c>, read by <see cref="ClusterConfigReader"/>): the silos and
/// the devices each owns, every SD3 grain's device (several for transformer replicas or CFG-parallel), memory
/// budgets and the offload policy. Every silo of a cluster reads the same file, so every silo knows the same
/// submodule -> device -> silo map.
/// </summary>
public sealed record ClusterConfig
{
    public required string Name { get; init; }
    public required ModelSpec Model { get; init; }
    public required IReadOnlyList<SiloSpec> Silos { get; init; }
    /// <summary>Each placed grain's devices; text_encoder_3 is absent when the cluster runs without T5.</summary>
    public required IReadOnlyDictionary<PlacedSubmodule, IReadOnlyList<Device>> Placement { get; init; }
    /// <summary>Memory budget per device, bytes (devices without one: what the device reports).</summary>
    public IReadOnlyDictionary<Device, long> MemoryBudgets { get; init; } = new Dictionary<Device, long>();
    /// <summary>Conditional and unconditional passes on the transformer's two devices at once (xDiT's cfg_parallel).</summary>
    public bool CfgParallel { get; init; }
    public OffloadSpec Offload { get; init; } = new();
    public JobLimits Jobs { get; init; } = new();
    /// <summary>The primary's job store; null: jobs in memory only (the embedded silo of a local `generate`).</summary>
    public StoreSpec? Store { get; init; }
    /// <summary>How the silos find each other (Orleans membership).</summary>
    public ClusteringSpec Clustering { get; init; } = ClusteringSpec.Localhost;
    /// <summary>
    /// Where a submodule's grain is activated when no active silo owns its placed device (its silo was declared dead):
    /// a device of another silo. Submodules without one fail their jobs with UNAVAILABLE instead.
    /// </summary>
    public IReadOnlyDictionary<PlacedSubmodule, Device> Fallback { get; init; } = new Dictionary<PlacedSubmodule, Device>();

    public SiloSpec Primary => Silos.Single(s => s.Primary);
    public SiloSpec Silo(string name) => Silos.FirstOrDefault(s => s.Name == name)
        ?? throw new ArgumentException($"the cluster config '{Name}' has no silo '{name}' (silos: {string.Join(", ", Silos.Select(s => s.Name))})");
    public SiloSpec OwnerOf(Device device) => Silos.Single(s => s.Devices.Contains(device));
    public IEnumerable<Device> AllDevices => Silos.SelectMany(s => s.Devices);
}

/// <summary>The model every silo loads: a folder, or a preset the silo creates in its cache (seeded weights).</summary>
public sealed record ModelSpec(string? Path, string? Preset, DType Precision = DType.Float32, ulong Seed = 0)
{
    public override string ToString() => Path ?? $"{Preset} {Precision.Name()} seed {Seed}";
}

/// <summary>One silo process: its name, the devices it owns and where it listens.</summary>
public sealed record SiloSpec
{
    public required string Name { get; init; }
    public bool Primary { get; init; }
    /// <summary>The address other silos and clients reach it on (loopback by default).</summary>
    public string Host { get; init; } = "127.0.0.1";
    public required int SiloPort { get; init; }
    public required int GatewayPort { get; init; }
    /// <summary>Its gRPC endpoint (HTTP/2): the tensor transport, and on the primary the public API.</summary>
    public required int GrpcPort { get; init; }
    /// <summary>
    /// Its web endpoint (HTTP/1.1; 0: none): /metrics, the Orleans dashboard and /healthz on any silo, and on the
    /// primary the dashboard.
    /// </summary>
    public int WebPort { get; init; }
    public required IReadOnlyList<Device> Devices { get; init; }
    /// <summary>
    /// Which of this host's devices a cluster-wide device name stands for (config <c>local_devices</c>): device names
    /// are the cluster's, so two machines with one GPU each call theirs cuda:0 and cuda:1, and the second maps cuda:1 to
    /// its own cuda:0. Devices not listed are this host's device of the same name.
    /// </summary>
    public IReadOnlyDictionary<Device, Device> LocalDevices { get; init; } = new Dictionary<Device, Device>();

    /// <summary>The device of this host that <paramref name="device"/> (a cluster-wide name) runs on.</summary>
    public Device Local(Device device) => LocalDevices.TryGetValue(device, out var local) ? local : device;

    public Uri GrpcUri => new($"http://{Host}:{GrpcPort}");
    /// <summary>Its web endpoint's URL (on the primary: the dashboard's); null without a web port.</summary>
    public Uri? WebUri => WebPort > 0 ? new($"http://{Host}:{WebPort}/") : null;
}

/// <summary>
/// The cluster's form of diffusers' model CPU offload: a submodule's session is released when idle for
/// <see cref="IdleTimeout"/>, or when its device's budget is needed by another grain, and loaded again on
/// the next call. <see cref="Warm"/> loads every placed submodule when its silo starts.
/// </summary>
public sealed record OffloadSpec
{
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>The shortest idle timeout a config may set (Orleans checks for idle grains every half of it).</summary>
    public static readonly TimeSpan MinIdleTimeout = TimeSpan.FromSeconds(1);
    public bool Warm { get; init; }
}

/// <summary>How many jobs run at once (pipelining) and how many may wait, in all and per client.</summary>
public sealed record JobLimits
{
    public const int DefaultQueueCapacity = 64, DefaultClientQueueCapacity = 16;

    public int MaxInFlight { get; init; } = 2;
    public int QueueCapacity { get; init; } = DefaultQueueCapacity;
    /// <summary>Jobs one client (its client id, else its address) may have waiting at once.</summary>
    public int ClientQueueCapacity { get; init; } = DefaultClientQueueCapacity;
}

/// <summary>
/// Orleans membership: localhost clustering (the primary silo keeps the table; every silo on one host) or a Redis
/// server every silo reaches (silos on several hosts). <see cref="Redis"/> is a StackExchange.Redis configuration
/// string: HOST:PORT, optionally followed by options (<c>127.0.0.1:6379,password=...,ssl=true</c>).
/// </summary>
public sealed record ClusteringSpec(string? Redis)
{
    public static readonly ClusteringSpec Localhost = new((string?)null);

    public bool IsRedis => Redis is not null;

    /// <summary>For messages: the endpoint only (a password in the options never shows).</summary>
    public override string ToString() => Redis is { } r ? $"redis {r.Split(',')[0]}" : "localhost (through the primary silo)";
}
