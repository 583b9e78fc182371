using System.Diagnostics;
using Sd3Mesh.Runtime.Config;

namespace Sd3Mesh.Cli.Tests;

/// <summary>
/// Debian's redis-server on a free loopback port, data in a folder of its own, started and stopped with the script users
/// run (cluster/redis.sh): the membership store of the multi-host cluster tests.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private RedisServer(int port, string folder)
    {
        Port = port;
        Folder = folder;
    }

    public int Port { get; }
    public string Folder { get; }
    /// <summary>What a cluster config's clustering.redis says.</summary>
    public string Address => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync()
    {
        var server = new RedisServer(EmbeddedCluster.FreeLoopbackPorts(1)[0],
            Path.Combine(Path.GetTempPath(), "sd3mesh-redis-" + Guid.NewGuid().ToString("N")[..8]));
        var (code, output) = await server.ScriptAsync("start");
        if (code != 0) throw new InvalidOperationException($"cluster/redis.sh start exited {code}:\n{output}");
        return server;
    }

    /// <summary>`cluster/redis.sh COMMAND --port P --dir D`: exit code and output.</summary>
    public async Task<(int ExitCode, string Output)> ScriptAsync(string command)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "cluster", "redis.sh"), command, "--port", Port.ToString(), "--dir", Folder })
            info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return (process.ExitCode, await stdout + await stderr);
    }

    public async ValueTask DisposeAsync()
    {
        await ScriptAsync("stop");
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { }
    }
}
