using System.Globalization;
using System.Text.Json;
using Sd3Mesh.Onnx;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Config;

/// <summary>
/// Reads a cluster config and validates it once: every problem is reported together, each naming its field
/// (<c>placement.text_encoder_3: no silo owns cuda:1 (silo gpu0 owns cuda:0)</c>), before any silo starts.
/// What needs the model's files (weights against memory budgets) is checked by <see cref="PlacementPlan"/>.
/// </summary>
public static class ClusterConfigReader
{
    private static readonly PlacedSubmodule[] Required =
        [PlacedSubmodule.TextEncoder, PlacedSubmodule.TextEncoder2, PlacedSubmodule.Transformer, PlacedSubmodule.Vae];

    public static ClusterConfig Load(string path)
    {
        string json;
        try { json = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ClusterConfigException(path, [$"cannot read the cluster config: {e.Message}"]);
        }
        return Parse(json, path, Path.GetDirectoryName(Path.GetFullPath(path)));
    }

    /// <param name="baseDirectory">model.path is relative to it (the config's folder)</param>
    public static ClusterConfig Parse(string json, string source, string? baseDirectory = null)
    {
        ClusterConfigFile file;
        try
        {
            file = JsonSerializer.Deserialize<ClusterConfigFile>(json, ClusterConfigFile.Json)
                ?? throw new ClusterConfigException(source, ["the file is empty (null)"]);
        }
        catch (JsonException e)
        {
            var where = e.Path is { Length: > 1 } p ? $"{p.TrimStart('$', '.')}: " : "";
            throw new ClusterConfigException(source, [$"{where}{e.Message.Split(" Path:")[0]}"]);
        }

        var errors = new List<string>();
        var silos = ReadSilos(file.Silos, errors);
        var owners = new Dictionary<Device, string>();
        foreach (var s in silos)
            foreach (var d in s.Devices)
                if (!owners.TryAdd(d, s.Name))
                    errors.Add($"silos.{s.Name}.devices: {d} is already owned by silo {owners[d]}; a device belongs to one silo");

        string OwnedList() => string.Join(", ", silos.Select(s => $"silo {s.Name} owns {string.Join(", ", s.Devices)}"));

        var placement = new Dictionary<PlacedSubmodule, IReadOnlyList<Device>>();
        foreach (var (name, value) in file.Placement ?? [])
        {
            string field = $"placement.{name}";
            if (!PlacedSubmodules.TryParse(name, out var submodule))
            {
                errors.Add($"{field}: unknown submodule; expected {string.Join(", ", PlacedSubmodules.All.Select(s => s.Name()))}");
                continue;
            }
            if (value.ValueKind == JsonValueKind.Null)
            {
                if (submodule != PlacedSubmodule.TextEncoder3) errors.Add($"{field}: needs a device (only text_encoder_3 may be null: run without T5)");
                continue;
            }
            var texts = value.ValueKind switch
            {
                JsonValueKind.String => [value.GetString()!],
                JsonValueKind.Array when value.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String) =>
                    value.EnumerateArray().Select(e => e.GetString()!).ToArray(),
                _ => null,
            };
            if (texts is null || texts.Length == 0)
            {
                errors.Add($"{field}: expected a device string such as \"cuda:0\" (or, for the transformer, a list of them)");
                continue;
            }
            if (texts.Length > 1 && submodule != PlacedSubmodule.Transformer)
                errors.Add($"{field}: one device expected; only the transformer may list several (replicas or CFG-parallel)");
            var devices = new List<Device>();
            foreach (var t in texts)
            {
                if (!Device.TryParse(t, out var d)) { errors.Add($"{field}: '{t}' is not a device; expected {Device.AcceptedForms}"); continue; }
                if (!owners.ContainsKey(d)) { errors.Add($"{field}: no silo owns {d} ({OwnedList()})"); continue; }
                if (devices.Contains(d)) { errors.Add($"{field}: {d} is listed twice"); continue; }
                devices.Add(d);
            }
            placement[submodule] = devices;
        }
        foreach (var r in Required)
            if (!(file.Placement ?? []).ContainsKey(r.Name()))
                errors.Add($"placement.{r.Name()}: missing; every config places {string.Join(", ", Required.Select(s => s.Name()))} (and text_encoder_3, or null to run without T5)");

        bool cfgParallel = file.CfgParallel ?? false;
        if (cfgParallel && placement.TryGetValue(PlacedSubmodule.Transformer, out var tr) && tr.Count != 2)
            errors.Add($"cfg_parallel: needs exactly two transformer devices (conditional, unconditional); placement.transformer lists {tr.Count}");

        var budgets = new Dictionary<Device, long>();
        foreach (var (name, spec) in file.Devices ?? [])
        {
            if (!Device.TryParse(name, out var d)) { errors.Add($"devices.{name}: not a device; expected {Device.AcceptedForms}"); continue; }
            if (!owners.ContainsKey(d)) errors.Add($"devices.{name}: no silo owns {d} ({OwnedList()})");
            if (spec.MemoryBudget is { } text)
            {
                if (ByteSize.TryParse(text, out long bytes) && bytes > 0) budgets[d] = bytes;
                else errors.Add($"devices.{name}.memory_budget: '{text}' is not a size; write e.g. 6GiB, 512MiB or 6000000000");
            }
        }

        var model = ReadModel(file.Model, baseDirectory, errors);
        var offload = new OffloadSpec
        {
            IdleTimeout = ReadDuration(file.Offload?.IdleTimeout, "offload.idle_timeout", TimeSpan.FromMinutes(10), errors),
            Warm = file.Offload?.Warm ?? false,
        };
        if (offload.IdleTimeout < OffloadSpec.MinIdleTimeout)
            errors.Add($"offload.idle_timeout: '{file.Offload!.IdleTimeout}' is shorter than the {OffloadSpec.MinIdleTimeout.TotalSeconds:0}s minimum " +
                       "(Orleans' grain collection, which releases idle grains, looks for them every half of it)");
        int queueCapacity = ReadRange(file.Jobs?.QueueCapacity, "jobs.queue_capacity", JobLimits.DefaultQueueCapacity, 1, 10_000, errors);
        var jobs = new JobLimits
        {
            MaxInFlight = ReadRange(file.Jobs?.MaxInFlight, "jobs.max_in_flight", 2, 1, 64, errors),
            QueueCapacity = queueCapacity,
            ClientQueueCapacity = ReadRange(file.Jobs?.ClientQueueCapacity, "jobs.client_queue_capacity",
                Math.Min(JobLimits.DefaultClientQueueCapacity, queueCapacity), 1, queueCapacity, errors),
        };
        var clustering = ReadClustering(file.Clustering, errors);
        var fallback = ReadFallback(file.Fallback, placement, silos, owners, errors);
        if (string.IsNullOrWhiteSpace(file.Name)) errors.Add("name: missing; give the cluster a name");
        var store = ReadStore(file.Store, file.Name, baseDirectory, errors);

        if (errors.Count > 0) throw new ClusterConfigException(source, errors);
        return new ClusterConfig
        {
            Name = file.Name!,
            Model = model!,
            Silos = silos,
            Placement = placement,
            MemoryBudgets = budgets,
            CfgParallel = cfgParallel,
            Offload = offload,
            Jobs = jobs,
            Clustering = clustering,
            Fallback = fallback,
            Store = store,
        };
    }

    private static ClusteringSpec ReadClustering(ClusterConfigFile.ClusteringFile? file, List<string> errors)
    {
        if (file?.Redis is not { } redis) return ClusteringSpec.Localhost;
        if (string.IsNullOrWhiteSpace(redis))
        {
            errors.Add("clustering.redis: '' names no server; write HOST:PORT, e.g. 127.0.0.1:6379 (see cluster/redis.sh)");
            return ClusteringSpec.Localhost;
        }
        StackExchange.Redis.ConfigurationOptions options;
        try
        {
            options = StackExchange.Redis.ConfigurationOptions.Parse(redis);
        }
        catch (ArgumentException e)
        {
            errors.Add($"clustering.redis: '{redis.Split(',')[0]}...' is not a Redis configuration ({e.Message}); write HOST:PORT, e.g. 127.0.0.1:6379");
            return ClusteringSpec.Localhost;
        }
        if (options.EndPoints.Count == 0)
        {
            errors.Add($"clustering.redis: '{redis.Split(',')[0]}' names no server; write HOST:PORT, e.g. 127.0.0.1:6379 (see cluster/redis.sh)");
            return ClusteringSpec.Localhost;
        }
        return new ClusteringSpec(redis);
    }

    /// <summary>
    /// fallback.SUBMODULE: a device of a silo other than the placed device's, so that the grain has somewhere to go
    /// when that silo is declared dead.
    /// </summary>
    private static Dictionary<PlacedSubmodule, Device> ReadFallback(Dictionary<string, string>? file, Dictionary<PlacedSubmodule, IReadOnlyList<Device>> placement,
        List<SiloSpec> silos, Dictionary<Device, string> owners, List<string> errors)
    {
        var fallback = new Dictionary<PlacedSubmodule, Device>();
        foreach (var (name, text) in file ?? [])
        {
            string field = $"fallback.{name}";
            if (!PlacedSubmodules.TryParse(name, out var submodule))
            {
                errors.Add($"{field}: unknown submodule; expected {string.Join(", ", PlacedSubmodules.All.Select(s => s.Name()))}");
                continue;
            }
            if (!Device.TryParse(text, out var device))
            {
                errors.Add($"{field}: '{text}' is not a device; expected {Device.AcceptedForms}");
                continue;
            }
            if (!owners.TryGetValue(device, out var silo))
            {
                errors.Add($"{field}: no silo owns {device} ({string.Join(", ", silos.Select(s => $"silo {s.Name} owns {string.Join(", ", s.Devices)}"))})");
                continue;
            }
            if (!placement.TryGetValue(submodule, out var placed) || placed.Count == 0)
            {
                errors.Add($"{field}: {name} is not placed (placement.{name} is missing or null), so it has nothing to fall back from");
                continue;
            }
            // Useful only if some placed device is on another silo (the fallback serves when that silo is gone).
            if (placed.All(d => owners.GetValueOrDefault(d) == silo))
            {
                errors.Add($"{field}: {device} belongs to silo {silo}, which also holds placement.{name}; a fallback must be on another silo (it is used when that one is gone)");
                continue;
            }
            fallback[submodule] = device;
        }
        return fallback;
    }

    /// <summary>The store section: data relative to the config's folder (default: the user's data folder for this cluster).</summary>
    private static StoreSpec ReadStore(ClusterConfigFile.StoreFile? f, string? name, string? baseDirectory, List<string> errors)
    {
        if (f?.Data is { } data && string.IsNullOrWhiteSpace(data)) errors.Add("store.data: empty; give a folder or leave it out");
        if (f?.Postgres is { } postgres && string.IsNullOrWhiteSpace(postgres))
            errors.Add("store.postgres: empty; give a connection string such as \"Host=db;Database=sd3mesh;Username=sd3mesh\" or leave it out");
        string folder = f?.Data is { Length: > 0 } given
            ? Path.GetFullPath(Path.Combine(baseDirectory ?? ".", given))
            : StoreSpec.DefaultDataFolder(string.IsNullOrWhiteSpace(name) ? "cluster" : name);
        return new StoreSpec(folder, f?.Postgres,
            ReadRange(f?.CheckpointEvery, "store.checkpoint_every", StoreSpec.DefaultCheckpointEvery, 0, StoreSpec.MaxCheckpointEvery, errors));
    }

    private static List<SiloSpec> ReadSilos(List<ClusterConfigFile.SiloFile>? files, List<string> errors)
    {
        var silos = new List<SiloSpec>();
        if (files is not { Count: > 0 })
        {
            errors.Add("silos: missing; a cluster has at least one silo");
            return silos;
        }
        var ports = new Dictionary<(string Host, int Port), string>();
        for (int i = 0; i < files.Count; i++)
        {
            var f = files[i];
            string name = string.IsNullOrWhiteSpace(f.Name) ? $"#{i}" : f.Name!;
            string field = $"silos.{name}";
            if (string.IsNullOrWhiteSpace(f.Name)) errors.Add($"silos[{i}].name: missing");
            else if (silos.Any(s => s.Name == name)) errors.Add($"{field}: the name is used twice");
            string host = f.Host ?? "127.0.0.1";
            // Orleans advertises an address, not a name: what other silos and clients connect to.
            if (!System.Net.IPAddress.TryParse(host, out _))
            {
                errors.Add($"{field}.host: '{host}' is not an IP address; give the address other hosts reach this silo on (e.g. 10.0.0.12)");
                host = "127.0.0.1";
            }
            int Port(int? value, string what, bool required)
            {
                if (value is null)
                {
                    if (required) errors.Add($"{field}.{what}: missing");
                    return 0;
                }
                if (value is < 1 or > 65535) { errors.Add($"{field}.{what}: {value} is outside 1..65535"); return 0; }
                if (!ports.TryAdd((host, value.Value), $"{field}.{what}"))
                    errors.Add($"{field}.{what}: port {value} on {host} is also {ports[(host, value.Value)]}");
                return value.Value;
            }
            var devices = new List<Device>();
            foreach (var d in f.Devices ?? [])
                if (Device.TryParse(d, out var device)) devices.Add(device);
                else errors.Add($"{field}.devices: '{d}' is not a device; expected {Device.AcceptedForms}");
            if (f.Devices is not { Count: > 0 }) errors.Add($"{field}.devices: missing; a silo owns at least one device");
            var local = ReadLocalDevices(f.LocalDevices, devices, $"{field}.local_devices", errors);
            silos.Add(new SiloSpec
            {
                Name = name,
                Primary = f.Primary ?? false,
                Host = host,
                SiloPort = Port(f.SiloPort, "silo_port", true),
                GatewayPort = Port(f.GatewayPort, "gateway_port", true),
                GrpcPort = Port(f.GrpcPort, "grpc_port", true),
                WebPort = Port(f.WebPort, "web_port", false),
                Devices = devices,
                LocalDevices = local,
            });
        }
        int primaries = silos.Count(s => s.Primary);
        if (primaries != 1)
            errors.Add($"silos: exactly one silo must be \"primary\": true (it hosts the public API and the job store); {primaries} are");
        return silos;
    }

    /// <summary>
    /// local_devices: { "cuda:1": "cuda:0" }, each key one of the silo's devices, each value a device of the same kind on
    /// its host; no two of the silo's devices may end up on one local device.
    /// </summary>
    private static Dictionary<Device, Device> ReadLocalDevices(Dictionary<string, string>? file, List<Device> devices, string field, List<string> errors)
    {
        var map = new Dictionary<Device, Device>();
        foreach (var (name, value) in file ?? [])
        {
            if (!Device.TryParse(name, out var device)) { errors.Add($"{field}: '{name}' is not a device; expected {Device.AcceptedForms}"); continue; }
            if (!devices.Contains(device))
            {
                errors.Add($"{field}.{name}: not one of this silo's devices ({string.Join(", ", devices)})");
                continue;
            }
            if (!Device.TryParse(value, out var local)) { errors.Add($"{field}.{name}: '{value}' is not a device; expected {Device.AcceptedForms}"); continue; }
            if (local.IsCuda != device.IsCuda) { errors.Add($"{field}.{name}: {local} is not the same kind of device as {device}"); continue; }
            map[device] = local;
        }
        foreach (var clash in devices.GroupBy(d => map.TryGetValue(d, out var l) ? l : d).Where(g => g.Count() > 1))
            errors.Add($"{field}: {string.Join(" and ", clash)} would both be this host's {clash.Key}; a silo's devices must be distinct devices of its host");
        return map;
    }

    private static ModelSpec? ReadModel(ClusterConfigFile.ModelFile? f, string? baseDirectory, List<string> errors)
    {
        if (f is null || (f.Path is null) == (f.Preset is null))
        {
            errors.Add("model: give either \"path\" (an SD3 ONNX folder) or \"preset\" (tiny or medium, created with seeded weights)");
            return null;
        }
        var precision = f.Precision switch
        {
            null or "fp32" => DType.Float32,
            "fp16" => DType.Float16,
            _ => (DType?)null,
        };
        if (precision is null) { errors.Add($"model.precision: '{f.Precision}' is not fp32 or fp16"); return null; }
        string? path = f.Path is null ? null : Path.GetFullPath(Path.Combine(baseDirectory ?? ".", f.Path));
        return new ModelSpec(path, f.Preset, precision.Value, f.Seed ?? 0);
    }

    private static TimeSpan ReadDuration(string? text, string field, TimeSpan fallback, List<string> errors)
    {
        if (text is null) return fallback;
        var s = text.Trim();
        double factor = s.EndsWith("ms", StringComparison.Ordinal) ? 1e-3 : s.EndsWith('s') ? 1 : s.EndsWith('m') ? 60 : s.EndsWith('h') ? 3600 : 0;
        if (factor > 0 && double.TryParse(s.TrimEnd('m', 's', 'h'), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double n) && n >= 0)
            return TimeSpan.FromSeconds(n * factor);
        if (TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out var span) && span >= TimeSpan.Zero) return span;
        errors.Add($"{field}: '{text}' is not a duration; write e.g. 30s, 10m, 1h or 00:10:00");
        return fallback;
    }

    private static int ReadRange(int? value, string field, int fallback, int min, int max, List<string> errors)
    {
        if (value is null) return fallback;
        if (value < min || value > max) errors.Add($"{field}: {value} is outside {min}..{max}");
        return value.Value;
    }
}
