using System.Net;
using System.Net.Sockets;
using Sd3Mesh.Runtime.Config;

namespace Sd3Mesh.Cli.Tests;

/// <summary>`cluster up`, `silo` and `placement` when they cannot do their work: what they say and their exit codes.</summary>
public sealed class ClusterCommandTests(TinyModelFolder folder) : IClassFixture<TinyModelFolder>
{
    [Fact]
    public async Task Cluster_up_with_a_bad_config_exits_2_naming_every_field_before_starting_a_silo()
    {
        var path = Path.Combine(folder.Path, $"bad-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """
            { "name": "bad", "model": { "preset": "tiny" },
              "silos": [ { "name": "s0", "primary": true, "devices": ["cpu:0"], "silo_port": 11111, "gateway_port": 30000, "grpc_port": 50051 } ],
              "placement": { "text_encoder": "cpu:0", "text_encoder_2": "cpu:0", "text_encoder_3": "cuda:1", "transformer": "cpu:0" } }
            """);
        var (code, output) = await CliProcess.RunAsync(["cluster", "up", "--config", path]);
        Assert.Equal(2, code);
        Assert.Contains($"{path}: 2 problems:", output);
        Assert.Contains("placement.text_encoder_3: no silo owns cuda:1 (silo s0 owns cpu:0)", output);
        Assert.Contains("placement.vae: missing;", output);
        Assert.DoesNotContain(" pid ", output);
    }

    [Fact]
    public async Task Cluster_up_refuses_a_port_in_use_naming_the_silo_and_field()
    {
        var (root, path, config) = ClusterUp.WriteConfig("local-2cpu.json", folder.Model);
        int port = config["silos"]![1]!["grpc_port"]!.GetValue<int>();
        var taken = new TcpListener(IPAddress.Loopback, port);
        taken.Start();
        try
        {
            var (code, output) = await CliProcess.RunAsync(["cluster", "up", "--config", path, "--logs", Path.Combine(root, "logs")]);
            Assert.Equal(1, code);
            Assert.Contains($"silos.silo1.grpc_port: 127.0.0.1:{port} is in use (another cluster, or a silo still running?)", output);
            Assert.DoesNotContain(" pid ", output);
        }
        finally
        {
            taken.Stop();
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task A_silo_that_exits_while_the_cluster_starts_stops_the_others_and_exits_1_naming_it()
    {
        var (root, path, _) = ClusterUp.WriteConfig("local-2cpu.json", folder.Model);
        using var up = CliProcess.Start(["cluster", "up", "--config", path, "--logs", Path.Combine(root, "logs")]);
        try
        {
            await up.WaitForOutputAsync("  silo1: pid ", TimeSpan.FromSeconds(60));
            var pids = ClusterUp.Pids(up.Output);
            ClusterUp.KillIfRunning(pids["silo1"]);

            Assert.Equal(1, await up.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            Assert.Contains($"silo silo1 (pid {pids["silo1"]}) exited with code 137 before the cluster was up", up.Output);
            Assert.Contains(Path.Combine(root, "logs", "silo1.log"), up.Output); // its last lines, or that it wrote none
            Assert.Contains("stopping silo0", up.Output);
            Assert.DoesNotContain(" is up in ", up.Output);
            Assert.False(ClusterUp.IsRunning(pids["silo0"]), "silo0 outlived cluster up");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task Without_an_answer_from_the_configs_redis_cluster_up_starts_no_silo_and_a_silo_does_not_start_each_exiting_1()
    {
        int port = EmbeddedCluster.FreeLoopbackPorts(1)[0]; // nothing listens there
        var (root, path, _) = ClusterUp.WriteConfig("redis-2host.json", folder.Model,
            config => config["clustering"] = new System.Text.Json.Nodes.JsonObject { ["redis"] = $"127.0.0.1:{port}" });
        try
        {
            string expected = $"clustering.redis: no Redis server answers at 127.0.0.1:{port}; start one (cluster/redis.sh start) or fix the address";
            var (code, output) = await CliProcess.RunAsync(["cluster", "up", "--config", path, "--logs", Path.Combine(root, "logs")]);
            Assert.Equal((1, true), (code, output.Contains(expected)));
            Assert.DoesNotContain(" pid ", output);

            (code, output) = await CliProcess.RunAsync(["silo", "--config", path, "--name", "host3"]);
            Assert.Equal(1, code);
            Assert.Contains($"silo host3 cannot start: {expected}", output);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task Silo_with_a_name_the_config_lacks_exits_2()
    {
        var (root, path, _) = ClusterUp.WriteConfig("local-2cpu.json", folder.Model);
        try
        {
            var (code, output) = await CliProcess.RunAsync(["silo", "--config", path, "--name", "silo7"]);
            Assert.Equal(2, code);
            Assert.Contains("the cluster config 'local-2cpu' has no silo 'silo7' (silos: silo0, silo1)", output);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task Placement_exits_3_when_the_server_cannot_be_reached_and_2_for_a_bad_url()
    {
        int port = EmbeddedCluster.FreeLoopbackPorts(1)[0];
        var (code, output) = await CliProcess.RunAsync(["placement", "--server", $"http://127.0.0.1:{port}"]);
        Assert.Equal(3, code);
        Assert.Contains($"cannot reach the server at http://127.0.0.1:{port}/", output);

        (code, output) = await CliProcess.RunAsync(["placement", "--server", "127.0.0.1"]);
        Assert.Equal(2, code);
        Assert.Contains("--server: '127.0.0.1' is not a server URL", output);
    }
}
