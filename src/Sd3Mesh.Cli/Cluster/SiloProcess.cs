using System.Diagnostics;
using System.Reflection;
using Sd3Mesh.Runtime.Config;

namespace Sd3Mesh.Cli.Cluster;

/// <summary>
/// One `sd3mesh silo` child of `cluster up`: the same executable as this process, writing its own log file (so the
/// log goes on when `cluster up` is killed), and stopping by itself when `cluster up` is gone. What escapes .NET (a
/// runtime's fatal error) goes to the inherited stdout and stderr: the user sees it at once.
/// </summary>
internal sealed class SiloProcess : IAsyncDisposable
{
    private readonly Process _process;

    private SiloProcess(SiloSpec spec, Process process, string logPath)
    {
        Spec = spec;
        LogPath = logPath;
        _process = process;
        Exited = WaitForExitAsync();
    }

    public SiloSpec Spec { get; }
    public string LogPath { get; }
    public int Id => _process.Id;
    /// <summary>Completes with the exit code once the process has ended.</summary>
    public Task<int> Exited { get; }

    /// <summary>Starts `sd3mesh silo --config CONFIG --name NAME --log LOG --parent-pid THIS`.</summary>
    public static SiloProcess Start(string configPath, SiloSpec spec, string logPath)
    {
        var (file, prefix) = SelfCommand();
        var info = new ProcessStartInfo(file) { UseShellExecute = false };
        foreach (var a in prefix.Concat(["silo", "--config", configPath, "--name", spec.Name, "--log", logPath,
                     "--parent-pid", Environment.ProcessId.ToString()]))
            info.ArgumentList.Add(a);
        return new SiloProcess(spec, Process.Start(info) ?? throw new InvalidOperationException($"{file} did not start"), logPath);
    }

    /// <summary>
    /// This executable: the app itself (`sd3mesh`, a published app), or the host and the entry assembly when run as
    /// `dotnet sd3mesh.dll` (the ./sd3mesh script, the tests).
    /// </summary>
    private static (string File, string[] Prefix) SelfCommand()
    {
        var path = Environment.ProcessPath ?? throw new InvalidOperationException("the path of this executable is unknown");
        if (Path.GetFileNameWithoutExtension(path) != "dotnet") return (path, []);
        var entry = Assembly.GetEntryAssembly()?.Location;
        if (string.IsNullOrEmpty(entry)) throw new InvalidOperationException("the entry assembly of this `dotnet` process is unknown");
        return (path, [entry]);
    }

    /// <summary>The last lines of its log (see <see cref="SiloLog.Tail"/>).</summary>
    public IReadOnlyList<string> Tail() => SiloLog.Tail(LogPath);

    /// <summary>Asks the silo to stop gracefully (SIGTERM); false when it has already ended.</summary>
    public bool Stop() => !_process.HasExited && PosixProcesses.Signal(_process.Id, PosixProcesses.SigTerm);

    public void Kill()
    {
        try { _process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { } // ended meanwhile
    }

    private async Task<int> WaitForExitAsync()
    {
        await _process.WaitForExitAsync().ConfigureAwait(false);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) Kill();
        await Exited.ConfigureAwait(false);
        _process.Dispose();
    }
}
