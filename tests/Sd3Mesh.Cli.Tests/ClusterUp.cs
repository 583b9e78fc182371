using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Grpc.Net.Client;
using Sd3Mesh.Models;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Server.Grpc;
using Sd3Mesh.Tensors;
using PipelineRequest = Sd3Mesh.Pipeline.GenerationRequest;

namespace Sd3Mesh.Cli.Tests;

/// <summary>
/// The real `sd3mesh cluster up` on a copy of a shipped config (cluster/*.json) rewritten to free loopback ports, a
/// model folder, a data folder and a log folder of the test's own: one process per silo, as a user starts it.
/// </summary>
public sealed partial class ClusterUp : IAsyncDisposable
{
    private ClusterUp(string root, JsonObject config, CliProcess process, GrpcChannel channel)
    {
        Root = root;
        Config = config;
        Process = process;
        Channel = channel;
        SiloPids = Pids(process.Output);
    }

    public string Root { get; }
    public string ConfigPath => Path.Combine(Root, "cluster.json");
    public string Logs => Path.Combine(Root, "logs");
    /// <summary>The config as written for this cluster (ports, model path).</summary>
    public JsonObject Config { get; }
    public CliProcess Process { get; }
    /// <summary>A channel to the primary's public API.</summary>
    public GrpcChannel Channel { get; }
    /// <summary>Each silo's process id, as `cluster up` printed it.</summary>
    public IReadOnlyDictionary<string, int> SiloPids { get; }
    public Uri Api => ApiOf(Config);
    public string Primary => Silos.Single(s => (bool?)s["primary"] == true)["name"]!.GetValue<string>();

    private IEnumerable<JsonNode> Silos => Config["silos"]!.AsArray().Select(s => s!);

    public int Port(string silo, string field) => Silos.Single(s => (string?)s["name"] == silo)[field]!.GetValue<int>();

    /// <summary>What the silo has written to its log file so far.</summary>
    public string Log(string silo)
    {
        using var stream = new FileStream(Path.Combine(Logs, silo + ".log"), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }

    /// <param name="shipped">a file of cluster/ (copied beside the tests)</param>
    /// <param name="edit">changes to the copy besides ports and model (e.g. devices)</param>
    /// <param name="environment">for `cluster up` and so its silos</param>
    public static async Task<ClusterUp> StartAsync(string shipped, string modelFolder, Action<JsonObject>? edit = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var (root, path, config) = WriteConfig(shipped, modelFolder, edit);
        var process = CliProcess.Start(["cluster", "up", "--config", path, "--logs", Path.Combine(root, "logs")], environment: environment);
        try
        {
            await process.WaitForOutputAsync(" is up in ", TimeSpan.FromSeconds(120));
        }
        catch
        {
            process.Dispose();
            throw;
        }
        return new ClusterUp(root, config, process, GrpcChannels.Create(ApiOf(config)));
    }

    /// <summary>The primary's public API: its host (loopback unless the config says) and gRPC port.</summary>
    private static Uri ApiOf(JsonObject config)
    {
        var primary = config["silos"]!.AsArray().Single(s => (bool?)s!["primary"] == true)!;
        return new Uri($"http://{(string?)primary["host"] ?? "127.0.0.1"}:{primary["grpc_port"]}");
    }

    /// <summary>A silo's host as the config gives it (loopback by default).</summary>
    public string Host(string silo) => (string?)Silos.Single(s => (string?)s["name"] == silo)["host"] ?? "127.0.0.1";

    /// <summary>A copy of a shipped config in a new temporary folder: free loopback ports, <paramref name="modelFolder"/>, a data folder in it, then <paramref name="edit"/>.</summary>
    public static (string Root, string Path, JsonObject Config) WriteConfig(string shipped, string modelFolder, Action<JsonObject>? edit = null)
    {
        var root = Path.Combine(Path.GetTempPath(), "sd3mesh-cluster-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "cluster", shipped)),
            documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true })!.AsObject();
        config["model"] = new JsonObject { ["path"] = modelFolder };
        config["store"] = new JsonObject { ["data"] = Path.Combine(root, "data") }; // the primary's job store, the test's own
        var silos = config["silos"]!.AsArray();
        var ports = new Queue<int>(EmbeddedCluster.FreeLoopbackPorts(silos.Count * 4));
        foreach (var silo in silos)
            foreach (var field in new[] { "silo_port", "gateway_port", "grpc_port", "web_port" })
                if (field != "web_port" || silo!["web_port"] is not null)
                    silo![field] = ports.Dequeue();
        edit?.Invoke(config);
        var path = Path.Combine(root, "cluster.json");
        File.WriteAllText(path, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return (root, path, config);
    }

    /// <summary>The GPU configs on logical CPU devices: cuda:N becomes cpu:N everywhere.</summary>
    public static void OnCpus(JsonObject config)
    {
        static JsonNode? Cpu(JsonNode? device) => device is null ? null : JsonValue.Create(device.GetValue<string>().Replace("cuda:", "cpu:"));
        foreach (var silo in config["silos"]!.AsArray())
            silo!["devices"] = new JsonArray([.. silo["devices"]!.AsArray().Select(Cpu)]);
        var placement = config["placement"]!.AsObject();
        foreach (var name in placement.Select(p => p.Key).ToList())
            placement[name] = placement[name] is JsonArray list ? new JsonArray([.. list.Select(Cpu)]) : Cpu(placement[name]);
    }

    /// <summary>The silo processes' ids as `cluster up` prints them when it starts them.</summary>
    public static IReadOnlyDictionary<string, int> Pids(string output) =>
        SiloLine().Matches(output).ToDictionary(m => m.Groups[1].Value, m => int.Parse(m.Groups[2].Value));

    /// <summary>SIGTERM, as a supervisor stops it; the exit code.</summary>
    public async Task<int> StopAsync()
    {
        Process.Signal(CliProcess.SigTerm);
        return await Process.WaitForExitAsync(TimeSpan.FromSeconds(45));
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        try
        {
            await StopAsync();
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            // Ended already (a test stopped or killed it), or killed by Dispose below.
        }
        Process.Dispose();
        foreach (var pid in SiloPids.Values) KillIfRunning(pid);
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }

    public static bool IsRunning(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    public static void KillIfRunning(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            p.Kill();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            // gone
        }
    }

    [GeneratedRegex(@"^  (\S+?)(?: \(primary\))?: pid (\d+),", RegexOptions.Multiline)]
    private static partial Regex SiloLine();
}

/// <summary>The tiny seeded models in a folder of their own, and the one-process pipeline on them (the reference).</summary>
public sealed class TinyModels : IDisposable
{
    public TinyModels()
    {
        Folder = Path.Combine(Path.GetTempPath(), "sd3mesh-cluster-model-" + Guid.NewGuid().ToString("N")[..8]);
        ModelZoo.Create("tiny", DType.Float32, 0, Folder);
        Local = OnnxSd3Model.Open(Folder);
    }

    public string Folder { get; }
    public OnnxSd3Model Local { get; }

    /// <summary>The PNG of the one-process pipeline for <paramref name="request"/>.</summary>
    public async Task<byte[]> LocalPngAsync(PipelineRequest request) =>
        (await new Sd3Pipeline(Local.Components).GenerateAsync(request)).Images[0].ToPng();

    public void Dispose()
    {
        Local.Dispose();
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { }
    }
}
