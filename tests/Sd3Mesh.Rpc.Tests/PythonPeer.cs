using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using Sd3Mesh.Rpc.Benchmark;
using Sd3Mesh.Rpc.Reflection;
using Sd3Mesh.Rpc.Tests.Echo;

namespace Sd3Mesh.Rpc.Tests;

/// <summary>
/// python/echo_peer.py under Debian's /usr/bin/python3 (grpcio 1.51): a server process that prints its
/// port, or a client run that prints one JSON line. Killed (with its children) on dispose.
/// </summary>
public sealed class PythonPeer : IAsyncDisposable
{
    public const string Interpreter = "/usr/bin/python3";
    private static readonly string Script = Path.Combine(AppContext.BaseDirectory, "python", "echo_peer.py");
    private static readonly Lazy<string> DescriptorSet = new(WriteDescriptorSet);

    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly System.Text.StringBuilder _stderr = new();

    private PythonPeer(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) _lines.Writer.TryWrite(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
        process.Exited += (_, _) => _lines.Writer.TryComplete();
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Port { get; private set; }
    public string Address => $"127.0.0.1:{Port}";
    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>The Echo, RpcBenchmark, health and reflection protos as a FileDescriptorSet (the peer's only schema source).</summary>
    public static string DescriptorSetPath => DescriptorSet.Value;

    private static string WriteDescriptorSet()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "python", "descriptors.pb");
        File.WriteAllBytes(path, DescriptorIndex.ToFileDescriptorSet(
            EchoReflection.Descriptor, BenchmarkReflection.Descriptor,
            Grpc.Health.V1.HealthReflection.Descriptor, Grpc.Reflection.V1Alpha.ReflectionReflection.Descriptor));
        return path;
    }

    private static Process Start(params string[] args)
    {
        if (!File.Exists(Interpreter))
            throw new InvalidOperationException($"{Interpreter} is missing: run tests/setup-debian.sh");
        var info = new ProcessStartInfo(Interpreter)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("-u");
        info.ArgumentList.Add(Script);
        foreach (var a in args) info.ArgumentList.Add(a);
        // grpcio must not pick up a proxy from the environment for loopback calls.
        info.Environment["no_proxy"] = "127.0.0.1,localhost";
        info.Environment["NO_PROXY"] = "127.0.0.1,localhost";
        return Process.Start(info) ?? throw new InvalidOperationException("python did not start");
    }

    /// <summary>Starts the grpcio server and waits until it printed its port.</summary>
    public static async Task<PythonPeer> StartServerAsync()
    {
        var peer = new PythonPeer(Start("server", DescriptorSetPath));
        var line = await peer.WaitForLineAsync(l => l.StartsWith("PORT ", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        peer.Port = int.Parse(line[5..], System.Globalization.CultureInfo.InvariantCulture);
        return peer;
    }

    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await foreach (var line in _lines.Reader.ReadAllAsync(cts.Token))
                if (match(line)) return line;
        }
        catch (OperationCanceledException) { }
        throw new TimeoutException($"the python peer printed no matching line within {timeout}; stderr:\n{Stderr}");
    }

    /// <summary>Runs one client scenario against <paramref name="address"/> (host:port) and returns its JSON result.</summary>
    public static async Task<JsonElement> RunClientAsync(string address, string scenario, params string[] args)
    {
        await using var peer = new PythonPeer(Start(["client", DescriptorSetPath, address, scenario, .. args]));
        string? last = null;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await foreach (var line in peer._lines.Reader.ReadAllAsync(cts.Token)) last = line;
        await peer._process.WaitForExitAsync(cts.Token);
        if (peer._process.ExitCode != 0 || last is null)
            throw new InvalidOperationException($"python client '{scenario}' exited with {peer._process.ExitCode}:\n{peer.Stderr}");
        return JsonDocument.Parse(last).RootElement.Clone();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try { _process.StandardInput.Close(); } catch (IOException) { }
            if (!_process.WaitForExit(2000)) _process.Kill(entireProcessTree: true);
        }
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
