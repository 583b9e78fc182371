using Sd3Mesh.Models;
using Sd3Mesh.Onnx;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Placement;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Tests;

public sealed class ClusterConfigTests
{
    private static string ClusterFolder([System.Runtime.CompilerServices.CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "cluster"));

    private static Device D(string s) => Device.Parse(s);

    [Fact]
    public void The_shipped_two_gpu_config_puts_t5_alone_on_gpu_1()
    {
        var c = ClusterConfigReader.Load(Path.Combine(ClusterFolder(), "local-2gpu.json"));
        Assert.Equal("local-2gpu", c.Name);
        Assert.Equal(new ModelSpec(null, "medium", DType.Float16, 0), c.Model);
        Assert.Equal(["gpu0", "gpu1"], c.Silos.Select(s => s.Name));
        Assert.Equal("gpu0", c.Primary.Name);
        Assert.Equal([D("cuda:1")], c.Placement[PlacedSubmodule.TextEncoder3]);
        foreach (var s in new[] { PlacedSubmodule.TextEncoder, PlacedSubmodule.TextEncoder2, PlacedSubmodule.Transformer, PlacedSubmodule.Vae })
            Assert.Equal([D("cuda:0")], c.Placement[s]);
        Assert.Equal("gpu1", c.OwnerOf(D("cuda:1")).Name);
        Assert.Equal(new Uri("http://127.0.0.1:50052"), c.Silo("gpu1").GrpcUri);
        Assert.True(c.Offload.Warm);
        Assert.False(c.CfgParallel);
    }

    [Theory]
    [InlineData("local-2cpu.json")]
    [InlineData("local-2gpu.json")]
    [InlineData("cfg-parallel-2gpu.json")]
    [InlineData("lowmem-offload.json")]
    public void Every_shipped_config_is_valid(string file) =>
        Assert.NotNull(ClusterConfigReader.Load(Path.Combine(ClusterFolder(), file)));

    [Fact]
    public void Cfg_parallel_places_two_transformers_and_lowmem_runs_without_t5_under_a_budget()
    {
        var cfg = ClusterConfigReader.Load(Path.Combine(ClusterFolder(), "cfg-parallel-2gpu.json"));
        Assert.True(cfg.CfgParallel);
        Assert.Equal([D("cuda:0"), D("cuda:1")], cfg.Placement[PlacedSubmodule.Transformer]);
        var low = ClusterConfigReader.Load(Path.Combine(ClusterFolder(), "lowmem-offload.json"));
        Assert.False(low.Placement.ContainsKey(PlacedSubmodule.TextEncoder3));
        Assert.Equal(6_000_000_000L, low.MemoryBudgets[D("cuda:0")]);
        Assert.Equal(TimeSpan.FromMinutes(2), low.Offload.IdleTimeout);
        Assert.Equal(1, low.Jobs.MaxInFlight);
    }

    private const string Silos = """
        "silos": [
          { "name": "a", "primary": true, "devices": ["cpu:0"], "silo_port": 1, "gateway_port": 2, "grpc_port": 3 },
          { "name": "b", "devices": ["cpu:1"], "silo_port": 4, "gateway_port": 5, "grpc_port": 6 }
        ]
        """;

    private static string Config(string placement, string extra = "") => $$"""
        { "name": "t", "model": { "preset": "tiny" }, {{Silos}}, "placement": { {{placement}} } {{extra}} }
        """;

    private const string Good = "\"text_encoder\": \"cpu:0\", \"text_encoder_2\": \"cpu:0\", \"text_encoder_3\": \"cpu:1\", \"transformer\": \"cpu:0\", \"vae\": \"cpu:0\"";

    [Theory]
    [InlineData("\"text_encoder_3\": \"cuda:1\"", "placement.text_encoder_3: no silo owns cuda:1 (silo a owns cpu:0, silo b owns cpu:1)")]
    [InlineData("\"text_encoder_3\": \"tpu:0\"", "placement.text_encoder_3: 'tpu:0' is not a device; expected")]
    [InlineData("\"unet\": \"cpu:0\"", "placement.unet: unknown submodule; expected text_encoder, text_encoder_2, text_encoder_3, transformer, vae")]
    [InlineData("\"vae\": [\"cpu:0\", \"cpu:1\"]", "placement.vae: one device expected; only the transformer may list several")]
    [InlineData("\"transformer\": null", "placement.transformer: needs a device (only text_encoder_3 may be null")]
    [InlineData("\"transformer\": 3", "placement.transformer: expected a device string")]
    public void A_bad_placement_is_refused_naming_the_submodule_the_device_and_why(string replace, string expected)
    {
        var key = replace[..(replace.IndexOf(':'))];
        var placement = string.Join(", ", Good.Split(", ").Where(p => !p.StartsWith(key, StringComparison.Ordinal)).Append(replace));
        var e = Assert.Throws<ClusterConfigException>(() => ClusterConfigReader.Parse(Config(placement), "t.json"));
        Assert.Contains(e.Errors, m => m.StartsWith(expected, StringComparison.Ordinal));
        Assert.StartsWith("t.json: ", e.Message);
    }

    [Fact]
    public void Local_devices_map_a_cluster_device_name_to_this_hosts_device_and_bad_maps_are_refused_naming_the_field()
    {
        const string hosts = """
            { "name": "t", "model": { "preset": "tiny" },
              "silos": [
                { "name": "a", "primary": true, "host": "10.0.0.11", "devices": ["cuda:0"], "silo_port": 1, "gateway_port": 2, "grpc_port": 3 },
                { "name": "b", "host": "10.0.0.12", "devices": ["cuda:1", "cpu:1"], "local_devices": { "cuda:1": "cuda:0" }, "silo_port": 1, "gateway_port": 2, "grpc_port": 3 }
              ],
              "placement": { "text_encoder": "cuda:0", "text_encoder_2": "cuda:0", "text_encoder_3": "cuda:1", "transformer": "cuda:0", "vae": "cuda:0" } }
            """;
        var c = ClusterConfigReader.Parse(hosts, "t.json");
        Assert.Equal((D("cuda:0"), D("cpu:1")), (c.Silo("b").Local(D("cuda:1")), c.Silo("b").Local(D("cpu:1"))));
        Assert.Equal(D("cuda:0"), c.Silo("a").Local(D("cuda:0")));
        Assert.Equal("b", c.OwnerOf(D("cuda:1")).Name); // placement still speaks the cluster's names

        foreach (var (map, expected) in new[]
                 {
                     ("{ \"cuda:3\": \"cuda:0\" }", "silos.b.local_devices.cuda:3: not one of this silo's devices (cuda:1, cpu:1)"),
                     ("{ \"cuda:1\": \"cpu:0\" }", "silos.b.local_devices.cuda:1: cpu:0 is not the same kind of device as cuda:1"),
                     ("{ \"cuda:1\": \"gpu\" }", "silos.b.local_devices.cuda:1: 'gpu' is not a device; expected"),
                     ("{ \"cpu:1\": \"cpu:7\", \"cuda:1\": \"cuda:0\" }", null),
                 })
        {
            var json = hosts.Replace("{ \"cuda:1\": \"cuda:0\" }", map);
            if (expected is null) { Assert.Equal(D("cpu:7"), ClusterConfigReader.Parse(json, "t.json").Silo("b").Local(D("cpu:1"))); continue; }
            var e = Assert.Throws<ClusterConfigException>(() => ClusterConfigReader.Parse(json, "t.json"));
            Assert.Contains(e.Errors, m => m.StartsWith(expected, StringComparison.Ordinal));
        }
        var clash = Assert.Throws<ClusterConfigException>(() => ClusterConfigReader.Parse(
            hosts.Replace("\"devices\": [\"cuda:1\", \"cpu:1\"]", "\"devices\": [\"cuda:1\", \"cuda:2\"]")
                 .Replace("{ \"cuda:1\": \"cuda:0\" }", "{ \"cuda:1\": \"cuda:2\" }"), "t.json"));
        Assert.Contains("silos.b.local_devices: cuda:1 and cuda:2 would both be this host's cuda:2; a silo's devices must be distinct devices of its host",
            clash.Errors);
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        const string json = """
            { "name": "", "model": { "preset": "tiny", "path": "x" },
              "silos": [
                { "name": "a", "devices": ["cpu:0"], "silo_port": 70000, "gateway_port": 2, "grpc_port": 2 },
                { "name": "a", "devices": ["cpu:0", "gpu"], "silo_port": 4, "gateway_port": 5 }
              ],
              "placement": { "transformer": "cpu:0" },
              "cfg_parallel": true,
              "devices": { "cpu:0": { "memory_budget": "lots" } },
              "offload": { "idle_timeout": "soon" },
              "jobs": { "max_in_flight": 0 } }
            """;
        var e = Assert.Throws<ClusterConfigException>(() => ClusterConfigReader.Parse(json, "bad.json"));
        string[] expected =
        [
            "silos.a.silo_port: 70000 is outside 1..65535",
            "silos.a.grpc_port: port 2 on 127.0.0.1 is also silos.a.gateway_port",
            "silos.a: the name is used twice",
            "silos.a.devices: 'gpu' is not a device",
            "silos.a.grpc_port: missing",
            "silos: exactly one silo must be \"primary\": true",
            "silos.a.devices: cpu:0 is already owned by silo a",
            "placement.text_encoder: missing",
            "placement.text_encoder_2: missing",
            "placement.vae: missing",
            "cfg_parallel: needs exactly two transformer devices",
            "devices.cpu:0.memory_budget: 'lots' is not a size",
            "model: give either \"path\" (an SD3 ONNX folder) or \"preset\"",
            "offload.idle_timeout: 'soon' is not a duration",
            "jobs.max_in_flight: 0 is outside 1..64",
            "name: missing",
        ];
        foreach (var x in expected) Assert.Contains(e.Errors, m => m.StartsWith(x, StringComparison.Ordinal));
        Assert.Equal(expected.Length, e.Errors.Count);
    }

    [Fact]
    public void The_store_section_names_the_data_folder_beside_the_config_postgres_and_the_checkpoint_interval()
    {
        var c = ClusterConfigReader.Parse(Config(Good, """
            , "store": { "data": "data/t", "postgres": "Host=db;Database=sd3mesh;Username=sd3mesh", "checkpoint_every": 4 }
            """), "t.json", "/etc/sd3mesh");
        Assert.Equal(new StoreSpec("/etc/sd3mesh/data/t", "Host=db;Database=sd3mesh;Username=sd3mesh", 4), c.Store);

        // Without one: SQLite in the user's data folder for this cluster, a checkpoint every 5 steps.
        var home = Environment.GetEnvironmentVariable("XDG_DATA_HOME") is { Length: > 0 } xdg ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share");
        Assert.Equal(new StoreSpec(Path.Combine(home, "sd3mesh", "t"), null, 5), ClusterConfigReader.Parse(Config(Good), "t.json").Store);

        var e = Assert.Throws<ClusterConfigException>(() => ClusterConfigReader.Parse(Config(Good, """
            , "store": { "data": " ", "postgres": "", "checkpoint_every": 1001 }
            """), "t.json"));
        Assert.Equal(["store.data: empty; give a folder or leave it out",
            "store.postgres: empty; give a connection string such as \"Host=db;Database=sd3mesh;Username=sd3mesh\" or leave it out",
            "store.checkpoint_every: 1001 is outside 0..1000"], e.Errors);
    }

    [Fact]
    public void Unknown_fields_and_broken_json_name_where_they_are()
    {
        var e = Assert.Throws<ClusterConfigException>(() => ClusterConfigReader.Parse(Config(Good, ", \"cfg_paralel\": true"), "t.json"));
        Assert.Contains("cfg_paralel", e.Message);
        e = Assert.Throws<ClusterConfigException>(() => ClusterConfigReader.Parse("{ \"name\": ", "t.json"));
        Assert.StartsWith("t.json: ", e.Message);
    }

    [Theory]
    [InlineData("0s")]
    [InlineData("500ms")]
    public void An_idle_timeout_shorter_than_a_second_is_refused(string text)
    {
        var e = Assert.Throws<ClusterConfigException>(() => ClusterConfigReader.Parse(Config(Good, $", \"offload\": {{ \"idle_timeout\": \"{text}\" }}"), "t.json"));
        Assert.Equal($"offload.idle_timeout: '{text}' is shorter than the 1s minimum (Orleans' grain collection, which releases idle grains, looks for them every half of it)",
            Assert.Single(e.Errors));
        Assert.Equal(TimeSpan.FromSeconds(1),
            ClusterConfigReader.Parse(Config(Good, ", \"offload\": { \"idle_timeout\": \"1s\" }"), "t.json").Offload.IdleTimeout);
    }

    [Theory]
    [InlineData("6GB", 6_000_000_000L)]
    [InlineData("6GiB", 6L << 30)]
    [InlineData("1.5 GiB", 3L << 29)]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("4096", 4096L)]
    public void Sizes_read_as_written(string text, long bytes)
    {
        Assert.True(ByteSize.TryParse(text, out long b));
        Assert.Equal(bytes, b);
    }

    [Fact]
    public void A_grain_larger_than_its_device_budget_is_refused_and_grains_that_only_fit_in_turn_are_offloaded()
    {
        var c = ClusterConfigReader.Parse(Config(Good, ", \"devices\": { \"cpu:0\": { \"memory_budget\": \"1000\" } }"), "t.json");
        long? Weights(Submodule s) => s switch
        {
            Submodule.Transformer => 900, Submodule.TextEncoder2 => 300, Submodule.VaeEncoder => null, _ => 100,
        };
        var plan = PlacementPlan.Create(c, "m", Weights, d => c.MemoryBudgets.TryGetValue(d, out var b) ? b : null);
        Assert.Equal(5, plan.Grains.Count);
        var t5 = plan.Single(PlacedSubmodule.TextEncoder3);
        Assert.Equal(("m/text_encoder_3@cpu:1", "b", 100L), (t5.Key.ToString(), t5.Silo, t5.WeightBytes));
        Assert.Equal(100L, plan.Single(PlacedSubmodule.Vae).WeightBytes); // the decoder only: this model has no VAE encoder
        var warning = Assert.Single(plan.Warnings);
        Assert.StartsWith("cpu:0 holds text_encoder, text_encoder_2, transformer, vae (1.4 KiB) over its memory budget (1000 B)", warning);

        var e = Assert.Throws<ClusterConfigException>(() => PlacementPlan.Create(c, "m", s => s == Submodule.Transformer ? 2000 : 1, d => 1000));
        Assert.Equal("placement.transformer: its weights (2 KiB) exceed cpu:0's memory budget (1000 B)", Assert.Single(e.Errors));
    }

    [Fact]
    public void Clustering_is_localhost_by_default_and_redis_when_the_config_names_a_server()
    {
        var local = ClusterConfigReader.Parse(Config(Good), "t.json");
        Assert.False(local.Clustering.IsRedis);
        var redis = ClusterConfigReader.Parse(Config(Good, ", \"clustering\": { \"redis\": \"10.0.0.5:6379,password=secret\" }"), "t.json");
        Assert.Equal("10.0.0.5:6379,password=secret", redis.Clustering.Redis);
        Assert.Equal("redis 10.0.0.5:6379", redis.Clustering.ToString()); // no password in messages
    }

    [Fact]
    public void A_fallback_names_a_device_of_another_silo_for_a_placed_submodule()
    {
        var c = ClusterConfigReader.Parse(Config(Good, ", \"fallback\": { \"text_encoder_3\": \"cpu:0\" }"), "t.json");
        Assert.Equal(D("cpu:0"), c.Fallback[PlacedSubmodule.TextEncoder3]);
        Assert.Single(c.Fallback);
        // The rule the placement director and the grain share: on its own silo a grain runs on its device, on the
        // fallback's silo on the fallback device; a job's coordinator follows the transformer's fallback.
        var t5 = new DeviceKey("m/text_encoder_3", D("cpu:1"));
        Assert.Equal(D("cpu:1"), c.DeviceOn(c.Silo("b"), t5));
        Assert.Equal(D("cpu:0"), c.DeviceOn(c.Silo("a"), t5));
        Assert.Equal(PlacedSubmodule.Transformer, Fallbacks.SubmoduleOf(new DeviceKey("job/42", D("cpu:0"))));
        Assert.Null(Fallbacks.SubmoduleOf(new DeviceKey("devices", D("cpu:1"))));
        Assert.Null(c.FallbackFor(new DeviceKey("m/vae", D("cpu:0"))));
        var e = Assert.Throws<DevicePlacementException>(() => c.DeviceOn(c.Silo("a"), new DeviceKey("devices", D("cpu:1"))));
        Assert.Equal("cannot place devices on cpu:1: it was activated on silo a, which owns neither cpu:1 nor a fallback for it (cpu:0)", e.Message);
    }

    [Theory]
    [InlineData("\"fallback\": { \"unet\": \"cpu:0\" }", "fallback.unet: unknown submodule; expected text_encoder, text_encoder_2, text_encoder_3, transformer, vae")]
    [InlineData("\"fallback\": { \"text_encoder_3\": \"gpu\" }", "fallback.text_encoder_3: 'gpu' is not a device; expected")]
    [InlineData("\"fallback\": { \"text_encoder_3\": \"cuda:3\" }", "fallback.text_encoder_3: no silo owns cuda:3 (silo a owns cpu:0, silo b owns cpu:1)")]
    [InlineData("\"fallback\": { \"text_encoder_3\": \"cpu:1\" }", "fallback.text_encoder_3: cpu:1 belongs to silo b, which also holds placement.text_encoder_3; a fallback must be on another silo")]
    [InlineData("\"clustering\": { \"redis\": \"\" }", "clustering.redis: '' names no server; write HOST:PORT")]
    [InlineData("\"clustering\": { \"redis\": \"127.0.0.1:6379,bogus=1\" }", "clustering.redis: '127.0.0.1:6379...' is not a Redis configuration")]
    [InlineData("\"clustering\": { \"zookeeper\": \"x\" }", "clustering.zookeeper")]
    [InlineData("\"jobs\": { \"queue_capacity\": 8, \"client_queue_capacity\": 9 }", "jobs.client_queue_capacity: 9 is outside 1..8")]
    public void Bad_clustering_fallback_and_client_limits_are_refused_naming_the_field(string extra, string expected)
    {
        var e = Assert.Throws<ClusterConfigException>(() => ClusterConfigReader.Parse(Config(Good, ", " + extra), "t.json"));
        Assert.Contains(e.Errors, m => m.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void A_fallback_for_a_submodule_run_without_is_refused_and_a_host_must_be_an_address()
    {
        var noT5 = Good.Replace("\"text_encoder_3\": \"cpu:1\"", "\"text_encoder_3\": null");
        var e = Assert.Throws<ClusterConfigException>(() =>
            ClusterConfigReader.Parse(Config(noT5, ", \"fallback\": { \"text_encoder_3\": \"cpu:0\" }"), "t.json"));
        Assert.Equal("fallback.text_encoder_3: text_encoder_3 is not placed (placement.text_encoder_3 is missing or null), so it has nothing to fall back from",
            Assert.Single(e.Errors));
        var named = Config(Good).Replace("\"name\": \"b\",", "\"name\": \"b\", \"host\": \"node2.local\",");
        e = Assert.Throws<ClusterConfigException>(() => ClusterConfigReader.Parse(named, "t.json"));
        Assert.Equal("silos.b.host: 'node2.local' is not an IP address; give the address other hosts reach this silo on (e.g. 10.0.0.12)", Assert.Single(e.Errors));
    }

    [Fact]
    public void A_fallback_device_must_hold_its_submodule_within_its_budget()
    {
        var c = ClusterConfigReader.Parse(Config(Good, ", \"fallback\": { \"text_encoder_3\": \"cpu:0\" }, \"devices\": { \"cpu:0\": { \"memory_budget\": \"1000\" } }"), "t.json");
        var e = Assert.Throws<ClusterConfigException>(() =>
            PlacementPlan.Create(c, "m", s => s == Submodule.TextEncoder3 ? 5000 : 10, d => c.MemoryBudgets.TryGetValue(d, out var b) ? b : null));
        Assert.Equal("fallback.text_encoder_3: its weights (4.9 KiB) exceed cpu:0's memory budget (1000 B)", Assert.Single(e.Errors));
    }
}
