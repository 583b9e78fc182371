using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Sd3Mesh.Cli.Tests;

/// <summary>
/// The real `sd3mesh` (the CLI's build next to the tests) in a process of its own: what a user runs, exit
/// code and all. Output is captured without colours (stdout is not a terminal).
/// </summary>
public sealed class CliProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource _outputEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _streamsOpen = 2;

    private CliProcess(Process process)
    {
        _process = process;
        void OnLine(string? line)
        {
            if (line is null)
            {
                if (Interlocked.Decrement(ref _streamsOpen) == 0) _outputEnded.TrySetResult();
                return;
            }
            lock (_output) _output.AppendLine(line);
        }
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Id => _process.Id;
    public string Output { get { lock (_output) return _output.ToString(); } }

    /// <param name="cacheHome">XDG_CACHE_HOME for the process (where default models are cached); null: the test's own</param>
    /// <param name="environment">more environment variables (e.g. a log level for a category)</param>
    public static CliProcess Start(IEnumerable<string> args, string? cacheHome = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "sd3mesh.dll"));
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["NO_COLOR"] = "1";
        info.Environment["no_proxy"] = "127.0.0.1,localhost";
        if (cacheHome is not null) info.Environment["XDG_CACHE_HOME"] = cacheHome;
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        return new CliProcess(Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start"));
    }

    /// <summary>Runs `sd3mesh ARGS` to its end; (exit code, stdout and stderr).</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string[] args, string? cacheHome = null, int timeoutSeconds = 60,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        using var cli = Start(args, cacheHome, environment);
        int code = await cli.WaitForExitAsync(TimeSpan.FromSeconds(timeoutSeconds));
        return (code, cli.Output);
    }

    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (_process.HasExited) throw new InvalidOperationException($"sd3mesh exited ({_process.ExitCode}) before printing '{text}':\n{Output}");
            if (clock.Elapsed > timeout) throw new TimeoutException($"sd3mesh printed no '{text}' within {timeout}:\n{Output}");
            await Task.Delay(50);
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            await _outputEnded.Task.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"sd3mesh did not exit within {timeout}:\n{Output}");
        }
        return _process.ExitCode;
    }

    [DllImport("libc", SetLastError = true, EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);

    public const int SigInt = 2, SigTerm = 15;

    /// <summary>Sends a signal to the process (Process.Kill can only send SIGKILL).</summary>
    public void Signal(int signal)
    {
        if (Kill(_process.Id, signal) != 0) throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }
}
