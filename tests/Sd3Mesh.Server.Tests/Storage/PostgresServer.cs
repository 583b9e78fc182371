using System.Diagnostics;
using Npgsql;
using Sd3Mesh.Runtime.Config;

namespace Sd3Mesh.Server.Tests.Storage;

/// <summary>
/// A throwaway PostgreSQL server for the tests: Debian's server binaries (package postgresql, installed by
/// tests/setup-debian.sh), initdb into a temporary folder, started on a free loopback port with trust authentication
/// and without fsync, then stopped (immediate mode) and deleted. Root may not run postgres, so as root every command
/// runs as the postgres user the package creates. Each test takes a database of its own.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private const string User = "sd3mesh";
    private string _root = "", _bin = "";

    public int Port { get; private set; }

    public async Task InitializeAsync()
    {
        _bin = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin"))
                .Where(b => File.Exists(Path.Combine(b, "initdb"))).OrderByDescending(b => b, StringComparer.Ordinal).FirstOrDefault() ?? ""
            : "";
        if (_bin.Length == 0)
            throw new InvalidOperationException("the PostgreSQL tests need Debian's server (package postgresql): run tests/setup-debian.sh");
        // Under /tmp, which every user can reach (TMPDIR may be a folder the postgres user cannot).
        _root = Path.Combine(Directory.Exists("/tmp") ? "/tmp" : Path.GetTempPath(), "sd3mesh-pg-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_root);
        // The server's user writes its data folder and socket here.
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(_root, (UnixFileMode)0b111_111_111);
        Port = EmbeddedCluster.FreeLoopbackPorts(1)[0];
        string data = Path.Combine(_root, "data");
        await RunAsync("initdb", "-D", data, "-U", User, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions");
        await RunAsync("pg_ctl", "-D", data, "-l", Path.Combine(_root, "server.log"), "-w", "-t", "60", "-o", Options, "start");
    }

    /// <summary>A new, empty database; its connection string.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        string name = "jobs_" + Guid.NewGuid().ToString("N")[..12];
        await using (var connection = new NpgsqlConnection(ConnectionString("postgres")))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await command.ExecuteNonQueryAsync();
        }
        return ConnectionString(name);
    }

    public string ConnectionString(string database) => $"Host=127.0.0.1;Port={Port};Username={User};Database={database}";

    /// <summary>
    /// Stops the server (fast mode: every session is ended, what was committed kept; immediate mode would lose commits
    /// here, as this server runs without synchronous commit) and starts it again with the same settings.
    /// </summary>
    public async Task RestartAsync()
    {
        await RunAsync("pg_ctl", "-D", Path.Combine(_root, "data"), "-m", "fast", "-w", "stop");
        await RunAsync("pg_ctl", "-D", Path.Combine(_root, "data"), "-l", Path.Combine(_root, "server.log"), "-w", "-t", "60", "-o", Options, "start");
        // This fixture's own pooled sessions (CreateDatabaseAsync's) ended with the server.
        using var admin = new NpgsqlConnection(ConnectionString("postgres"));
        NpgsqlConnection.ClearPool(admin);
    }

    private string Options => $"-p {Port} -k {_root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off";

    public async Task DisposeAsync()
    {
        try
        {
            await RunAsync("pg_ctl", "-D", Path.Combine(_root, "data"), "-m", "immediate", "-w", "stop");
        }
        finally
        {
            // The server's pooled connections from the tests die with it.
            NpgsqlConnection.ClearAllPools();
            try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Runs a server program (as the postgres user when we are root) and waits for it; its output on failure.</summary>
    private async Task RunAsync(string program, params string[] args)
    {
        bool root = Environment.UserName == "root";
        var info = new ProcessStartInfo(root ? "runuser" : Path.Combine(_bin, program))
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = _root,
        };
        if (root) foreach (var a in new[] { "-u", "postgres", "--", Path.Combine(_bin, program) }) info.ArgumentList.Add(a);
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{program} did not start");
        // pg_ctl start leaves the server running with our pipes open: read to the end only what the command itself writes.
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            string log = File.Exists(Path.Combine(_root, "server.log")) ? File.ReadAllText(Path.Combine(_root, "server.log")) : "";
            throw new InvalidOperationException($"{program} exited with {process.ExitCode}: {await stderr}{await stdout}\n{log}");
        }
    }
}
