using System.Text.Json;
using Sd3Mesh.Protos;
using Sd3Mesh.Protos.Benchmark;
using Sd3Mesh.Server.Tests.Echo;

namespace Sd3Mesh.Server.Tests.Grpc;

/// <summary>
/// python/echo_peer.py (grpcio 1.51) as a <see cref="PythonProcess"/>: a server process that prints its
/// port, or a client run that prints one JSON line.
/// </summary>
public sealed class PythonPeer : IAsyncDisposable
{
    private static readonly string Script = PythonProcess.Script("echo_peer.py");
    private static readonly Lazy<string> DescriptorSet = new(WriteDescriptorSet);

    private readonly PythonProcess _process;

    private PythonPeer(PythonProcess process) => _process = process;

    public int Port { get; private set; }
    public string Address => $"127.0.0.1:{Port}";
    public string Stderr => _process.Stderr;

    /// <summary>The Echo, RpcBenchmark, health and reflection protos as a FileDescriptorSet (the peer's only schema source).</summary>
    public static string DescriptorSetPath => DescriptorSet.Value;

    private static string WriteDescriptorSet()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "python", "descriptors.pb");
        File.WriteAllBytes(path, DescriptorSets.Of(
            EchoReflection.Descriptor, BenchmarkReflection.Descriptor,
            global::Grpc.Health.V1.HealthReflection.Descriptor, global::Grpc.Reflection.V1Alpha.ReflectionReflection.Descriptor));
        return path;
    }

    /// <summary>Starts the grpcio server and waits until it printed its port.</summary>
    public static async Task<PythonPeer> StartServerAsync()
    {
        var peer = new PythonPeer(PythonProcess.Start(Script, "server", DescriptorSetPath));
        var line = await peer.WaitForLineAsync(l => l.StartsWith("PORT ", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        peer.Port = int.Parse(line[5..], System.Globalization.CultureInfo.InvariantCulture);
        return peer;
    }

    public Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout) => _process.WaitForLineAsync(match, timeout);

    /// <summary>Runs one client scenario against <paramref name="address"/> (host:port) and returns its JSON result.</summary>
    public static Task<JsonElement> RunClientAsync(string address, string scenario, params string[] args) =>
        PythonProcess.RunForJsonAsync(Script, ["client", DescriptorSetPath, address, scenario, .. args]);

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
