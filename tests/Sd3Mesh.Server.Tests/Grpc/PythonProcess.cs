using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;

namespace Sd3Mesh.Server.Tests.Grpc;

/// <summary>
/// A script under Debian's /usr/bin/python3 (python3-grpcio, python3-protobuf from tests/setup-debian.sh)
/// with its stdout as lines and its stderr kept for error messages; killed (with its children) on dispose.
/// Scripts live in the test's output folder under python/. Shared by the Rpc and Server interop tests.
/// </summary>
public sealed class PythonProcess : IAsyncDisposable
{
    public const string Interpreter = "/usr/bin/python3";

    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly System.Text.StringBuilder _stderr = new();

    private PythonProcess(Process process)
    {
        _process = process;
        // The lines end at stdout's end (null), not at the Exited event: that may come before the last
        // lines have been read, and a script's result is its last line.
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) _lines.Writer.TryComplete();
            else _lines.Writer.TryWrite(e.Data);
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>The path of python/<paramref name="name"/> in the test's output folder.</summary>
    public static string Script(string name) => Path.Combine(AppContext.BaseDirectory, "python", name);

    public static PythonProcess Start(string script, params string[] args)
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
        info.ArgumentList.Add(script);
        foreach (var a in args) info.ArgumentList.Add(a);
        // grpcio must not pick up a proxy from the environment for loopback calls.
        info.Environment["no_proxy"] = "127.0.0.1,localhost";
        info.Environment["NO_PROXY"] = "127.0.0.1,localhost";
        return new PythonProcess(Process.Start(info) ?? throw new InvalidOperationException("python did not start"));
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
        throw new TimeoutException($"the python process printed no matching line within {timeout}; stderr:\n{Stderr}");
    }

    /// <summary>Runs <paramref name="script"/> to its end and returns the JSON of its last stdout line.</summary>
    public static async Task<JsonElement> RunForJsonAsync(string script, params string[] args)
    {
        await using var python = Start(script, args);
        string? last = null;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await foreach (var line in python._lines.Reader.ReadAllAsync(cts.Token)) last = line;
        await python._process.WaitForExitAsync(cts.Token);
        if (python._process.ExitCode != 0 || last is null)
            throw new InvalidOperationException($"python {Path.GetFileName(script)} {string.Join(' ', args.Take(4))} exited with {python._process.ExitCode}:\n{python.Stderr}");
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
