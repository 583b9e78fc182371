using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Sd3Mesh.Cli.Tests.Soak;

/// <summary>One run of one silo's process: a start, until it is killed or stopped.</summary>
public sealed record SiloIncarnation(string Silo, int Number, CliProcess Process, string LogPath, TimeSpan StartedAt)
{
    public string Name => $"{Silo}#{Number}";
    /// <summary>When its ready line was written (soak clock).</summary>
    public TimeSpan ReadyAt { get; set; }
    public TimeSpan? KilledAt { get; set; }
    public bool Alive => KilledAt is null && ClusterUp.IsRunning(Process.Id);
}

/// <summary>
/// Each silo of a cluster config as a process of its own (`sd3mesh silo --config FILE --name NAME --log FILE`, what
/// `cluster up` starts per silo but without `cluster up` itself, which ends with its primary): started, killed with
/// SIGKILL and started again on the same config, one log file per run of each silo.
/// </summary>
public sealed partial class SiloProcesses(string configPath, string logs, Stopwatch clock, IReadOnlyDictionary<string, string>? environment = null)
    : IAsyncDisposable
{
    private readonly Dictionary<string, SiloIncarnation> _current = [];
    private readonly List<SiloIncarnation> _all = [];

    public IReadOnlyList<SiloIncarnation> All { get { lock (_all) return [.. _all]; } }
    public SiloIncarnation Current(string silo) { lock (_all) return _current[silo]; }

    /// <summary>Starts a run of <paramref name="silo"/> and waits for its ready line (the last line a started silo prints).</summary>
    public async Task<SiloIncarnation> StartAsync(string silo, TimeSpan timeout)
    {
        int number;
        lock (_all) number = _all.Count(i => i.Silo == silo) + 1;
        Directory.CreateDirectory(logs);
        var log = Path.Combine(logs, $"{silo}.{number}.log");
        var process = CliProcess.Start(["silo", "--config", configPath, "--name", silo, "--log", log], environment: environment);
        var run = new SiloIncarnation(silo, number, process, log, clock.Elapsed);
        lock (_all)
        {
            _all.Add(run);
            _current[silo] = run;
        }
        var waited = Stopwatch.StartNew();
        while (!ReadLog(log).Contains("Ctrl+C stops", StringComparison.Ordinal))
        {
            if (!ClusterUp.IsRunning(process.Id))
                throw new InvalidOperationException($"silo {run.Name} exited before it was ready:\n{process.Output}\n{ReadLog(log)}");
            if (waited.Elapsed > timeout) throw new TimeoutException($"silo {run.Name} not ready within {timeout}:\n{ReadLog(log)}");
            await Task.Delay(50);
        }
        run.ReadyAt = clock.Elapsed;
        return run;
    }

    /// <summary>kill -9 of the silo's current run: no goodbye to the cluster, nothing flushed.</summary>
    public async Task<SiloIncarnation> KillAsync(string silo)
    {
        var run = Current(silo);
        run.Process.Signal(9);
        run.KilledAt = clock.Elapsed;
        int code = await run.Process.WaitForExitAsync(TimeSpan.FromSeconds(20));
        if (code != 137) throw new InvalidOperationException($"silo {run.Name} killed with SIGKILL exited {code}, not 137");
        return run;
    }

    /// <summary>The resident set of a running process (VmRSS of /proc/PID/status) and its anonymous part (RssAnon: not file pages), bytes.</summary>
    public static (long Resident, long Anonymous)? ResidentBytes(int pid)
    {
        try
        {
            var status = File.ReadAllText($"/proc/{pid}/status");
            var (rss, anon) = (VmRss().Match(status), RssAnon().Match(status));
            return rss.Success && anon.Success ? (Kib(rss) * 1024, Kib(anon) * 1024) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // ended
        }
    }

    private static long Kib(Match match) => long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

    public static string ReadLog(string path)
    {
        if (!File.Exists(path)) return "";
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }

    /// <summary>The last lines of every run's log (for a failure's message).</summary>
    public string Tails(int lines = 40) => string.Join("\n", All.Select(run =>
        $"--- {run.Name} ({Path.GetFileName(run.LogPath)}) ---\n" + string.Join("\n", ReadLog(run.LogPath).Split('\n').TakeLast(lines))));

    /// <summary>SIGTERM to every run still going (a graceful stop), SIGKILL to any that has not ended within 30 s.</summary>
    public async ValueTask DisposeAsync()
    {
        var alive = All.Where(r => r.KilledAt is null && ClusterUp.IsRunning(r.Process.Id)).ToList();
        foreach (var run in alive)
        {
            try { run.Process.Signal(CliProcess.SigTerm); }
            catch (InvalidOperationException) { } // ended meanwhile
        }
        foreach (var run in alive)
        {
            try { await run.Process.WaitForExitAsync(TimeSpan.FromSeconds(30)); }
            catch (TimeoutException) { } // killed by WaitForExitAsync
        }
        foreach (var run in All) run.Process.Dispose();
    }

    [GeneratedRegex(@"^VmRSS:\s+(\d+) kB", RegexOptions.Multiline)]
    private static partial Regex VmRss();

    [GeneratedRegex(@"^RssAnon:\s+(\d+) kB", RegexOptions.Multiline)]
    private static partial Regex RssAnon();
}
