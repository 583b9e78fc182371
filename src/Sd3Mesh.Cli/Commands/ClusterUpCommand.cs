using System.CommandLine;
using System.Diagnostics;
using Sd3Mesh.Cli.Cluster;
using Sd3Mesh.Models;
using Sd3Mesh.Runtime.Catalog;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Hosting;
using Sd3Mesh.Runtime.Placement;
using Sd3Mesh.Server;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh cluster up --config FILE [--logs DIR]`: checks the config and the model against it, starts one
/// `sd3mesh silo` process per silo entry (each logging to DIR/NAME.log), waits until every silo is up and ACTIVE in
/// Orleans membership, prints the API URL, then supervises: Ctrl+C, SIGINT or SIGTERM stops every silo gracefully
/// (exit 0). A silo that exits before the cluster is up, or the primary at any time, stops the others (exit 1, naming
/// the silo and the last lines of its log); a secondary that exits later is reported and the cluster goes on without
/// it (jobs that need its devices fail with UNAVAILABLE). The silos stop by themselves if this process dies.
/// </summary>
public static class ClusterUpCommand
{
    /// <summary>How long stopping waits for the silos (each drains within 10 s) before killing what is left.</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    public sealed record Settings(FileInfo Config, DirectoryInfo? Logs = null, uint StartTimeoutSeconds = 600);

    public static Command Create()
    {
        var config = new Option<FileInfo>("--config") { Description = "Cluster config (cluster/*.json, see cluster/README.md)", Required = true };
        var logs = new Option<DirectoryInfo?>("--logs") { Description = "Folder of the silos' log files, NAME.log each (default logs/CLUSTER)" };
        var timeout = CliOptions.WholeNumber("--start-timeout", "Seconds to wait for every silo to be up (default 600)");
        var command = new Command("up", "Start one silo process per silo of a cluster config and supervise them until Ctrl+C");
        foreach (var option in new Option[] { config, logs, timeout }) command.Options.Add(option);
        command.SetAction((parse, ct) => RunAsync(AnsiConsole.Console,
            new Settings(parse.GetValue(config)!, parse.GetValue(logs), parse.GetValue(timeout) ?? 600), ct));
        return command;
    }

    public static async Task<int> RunAsync(IAnsiConsole console, Settings settings, CancellationToken cancellationToken)
    {
        ClusterConfig config;
        ModelCatalog catalog;
        try
        {
            config = ClusterConfigReader.Load(settings.Config.FullName);
            // Once here, before any silo: a preset's folder is written once, and a placement the model cannot meet is refused.
            catalog = new ModelCatalog(config, ResolveModel(console), RuntimeServices.ReportedMemory);
        }
        catch (Exception e) when (e is ClusterConfigException or DevicePlacementException or ModelFormatException
                                      or DirectoryNotFoundException or FileNotFoundException or ArgumentException)
        {
            console.MarkupLine($"[red]{Markup.Escape(e.Message)}[/]");
            return ExitCodes.Usage;
        }
        foreach (var warning in catalog.Plan.Warnings) console.MarkupLine($"[yellow]{Markup.Escape(warning)}[/]");

        if (LocalPorts.Problems(config) is { Count: > 0 } taken)
        {
            foreach (var problem in taken) console.MarkupLine($"[red]{Markup.Escape(problem)}[/]");
            return ExitCodes.Failed;
        }
        if (await RedisCheck.ProblemAsync(config.Clustering) is { } redis)
        {
            console.MarkupLine($"[red]{Markup.Escape(redis)}[/]");
            return ExitCodes.Failed;
        }
        // The primary (a silo of this machine) reads the same data folder (store.data): a token it needs is made here, and shown here once.
        Server.Security.ApiToken? token;
        try
        {
            token = Server.Security.ApiToken.Resolve([new System.Net.IPEndPoint(System.Net.IPAddress.Parse(config.Primary.Host), config.Primary.GrpcPort)],
                Environment.GetEnvironmentVariable(Server.Security.ApiToken.Variable), config.Store?.DataFolder ?? StoreSpec.DefaultDataFolder(config.Name));
        }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException)
        {
            console.MarkupLine($"[red]{Markup.Escape(e.Message)}[/]");
            return ExitCodes.Usage;
        }

        var logs = settings.Logs?.FullName ?? Path.GetFullPath(Path.Combine("logs", config.Name));
        try
        {
            Directory.CreateDirectory(logs);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            console.MarkupLine($"[red]--logs: cannot create '{Markup.Escape(logs)}': {Markup.Escape(e.Message)}[/]");
            return ExitCodes.Usage;
        }

        console.MarkupLine(Markup.Escape($"cluster {config.Name}: {config.Silos.Count} silos, model {catalog.ModelId}, membership {config.Clustering}; logs in {logs}"));
        var silos = new List<SiloProcess>();
        try
        {
            foreach (var spec in config.Silos)
            {
                var silo = SiloProcess.Start(settings.Config.FullName, spec, Path.Combine(logs, spec.Name + ".log"));
                silos.Add(silo);
                var grains = catalog.Plan.Grains.Where(g => g.Silo == spec.Name).Select(g => g.Submodule.Name()).Distinct();
                console.MarkupLine(Markup.Escape($"  {spec.Name}{(spec.Primary ? " (primary)" : "")}: pid {silo.Id}, {string.Join(", ", spec.Devices)} " +
                                                 $"[{string.Join(", ", grains)}], gRPC {spec.GrpcUri}"));
            }

            if (!await WaitUntilUpAsync(console, config, silos, TimeSpan.FromSeconds(settings.StartTimeoutSeconds), cancellationToken))
            {
                if (cancellationToken.IsCancellationRequested) return await StopAsync(console, silos) ? ExitCodes.Ok : ExitCodes.Failed;
                await StopAsync(console, silos);
                return ExitCodes.Failed;
            }

            var primary = config.Primary;
            console.MarkupLine(Markup.Escape($"API: {primary.GrpcUri}"));
            ServeCommand.ShowToken(console, token);
            if (primary.WebUri is { } dashboard)
                console.MarkupLine(Markup.Escape($"dashboard: {dashboard} (Orleans dashboard at {ClusterSilo.OrleansDashboardPath}/, Prometheus metrics at /metrics)"));
            console.MarkupLine(Markup.Escape($"e.g. ./sd3mesh generate \"a lighthouse at dusk\" --server {primary.GrpcUri}; " +
                                             $"./sd3mesh placement --server {primary.GrpcUri}. Ctrl+C stops the cluster"));
            return await SuperviseAsync(console, config, silos, cancellationToken);
        }
        finally
        {
            foreach (var silo in silos) await silo.DisposeAsync(); // kills only what did not stop
        }
    }

    /// <summary>The model's folder; a preset is written to the model cache once, saying so, before the silos read it.</summary>
    private static Func<ModelSpec, string> ResolveModel(IAnsiConsole console) => model =>
        model.Path is { } path
            ? Directory.Exists(path) ? path : throw new DirectoryNotFoundException($"model.path: '{path}' does not exist")
            : GenerateCommand.EnsureDefaultModels(console, model.Preset!, model.Precision, model.Seed);

    /// <summary>Progress as silos come up; false when a silo exited, the time ran out or Ctrl+C came first (each said).</summary>
    private static async Task<bool> WaitUntilUpAsync(IAnsiConsole console, ClusterConfig config, List<SiloProcess> silos, TimeSpan timeout,
        CancellationToken cancellationToken)
    {
        using var readiness = new ClusterReadiness(config);
        var clock = Stopwatch.StartNew();
        var up = new HashSet<string>();
        var anyExit = Task.WhenAny(silos.Select(s => s.Exited));
        var interrupted = Task.Delay(Timeout.Infinite, cancellationToken);
        while (true)
        {
            if (silos.FirstOrDefault(s => s.Exited.IsCompleted) is { } gone)
            {
                ReportExit(console, gone, "before the cluster was up");
                return false;
            }
            if (cancellationToken.IsCancellationRequested)
            {
                console.MarkupLine("[yellow]interrupted while starting[/]");
                return false;
            }
            if (clock.Elapsed > timeout)
            {
                var waiting = config.Silos.Select(s => s.Name).Where(n => !up.Contains(n));
                console.MarkupLine($"[red]{Markup.Escape($"the cluster was not up within {timeout.TotalSeconds:F0} s (--start-timeout); not up: {string.Join(", ", waiting)}")}[/]");
                foreach (var s in silos.Where(s => !up.Contains(s.Spec.Name))) ShowTail(console, s);
                return false;
            }
            try
            {
                foreach (var spec in config.Silos.Where(s => !up.Contains(s.Name)))
                    if (await readiness.IsServingAsync(spec, cancellationToken))
                    {
                        up.Add(spec.Name);
                        console.MarkupLine(Markup.Escape($"{spec.Name} is up ({up.Count}/{config.Silos.Count}, {clock.Elapsed.TotalSeconds:F1} s)"));
                    }
                if (up.Count == config.Silos.Count && (await readiness.NotActiveAsync(cancellationToken)).Count == 0)
                {
                    console.MarkupLine(Markup.Escape($"cluster {config.Name} is up in {clock.Elapsed.TotalSeconds:F1} s: every silo is active in Orleans membership"));
                    return true;
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                continue; // said at the top of the loop
            }
            await Task.WhenAny(anyExit, interrupted, Task.Delay(TimeSpan.FromMilliseconds(250), CancellationToken.None));
        }
    }

    /// <summary>Runs until Ctrl+C (stop, exit 0) or the primary's exit (stop the rest, exit 1); other exits are reported.</summary>
    private static async Task<int> SuperviseAsync(IAnsiConsole console, ClusterConfig config, List<SiloProcess> silos, CancellationToken cancellationToken)
    {
        var interrupted = Task.Delay(Timeout.Infinite, cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
        var watched = silos.ToList();
        while (true)
        {
            var ended = await Task.WhenAny(watched.Select(s => (Task)s.Exited).Append(interrupted));
            if (ended == interrupted)
                return await StopAsync(console, silos) ? ExitCodes.Ok : ExitCodes.Failed;
            var silo = watched.Single(s => s.Exited == ended);
            watched.Remove(silo);
            ReportExit(console, silo, "while the cluster was running");
            if (silo.Spec.Primary)
            {
                console.MarkupLine("[red]the primary silo is gone, and the public API with it: stopping the cluster[/]");
                await StopAsync(console, silos);
                return ExitCodes.Failed;
            }
            console.MarkupLine($"[yellow]{Markup.Escape($"the cluster goes on without {silo.Spec.Name}: {WhatMoves(config, silo.Spec)}; Ctrl+C stops the rest")}[/]");
        }
    }

    /// <summary>SIGTERM to every silo still running, then waits; what has not stopped within <see cref="StopTimeout"/> is killed. False when one had to be killed or failed.</summary>
    private static async Task<bool> StopAsync(IAnsiConsole console, List<SiloProcess> silos)
    {
        var running = silos.Where(s => !s.Exited.IsCompleted).ToList();
        if (running.Count == 0) return true;
        console.MarkupLine(Markup.Escape($"stopping {string.Join(", ", running.Select(s => s.Spec.Name))}"));
        foreach (var silo in running) silo.Stop();
        var all = Task.WhenAll(running.Select(s => s.Exited));
        bool clean = true;
        if (await Task.WhenAny(all, Task.Delay(StopTimeout)) != all)
            foreach (var silo in running.Where(s => !s.Exited.IsCompleted))
            {
                console.MarkupLine($"[red]{Markup.Escape($"{silo.Spec.Name} did not stop within {StopTimeout.TotalSeconds:F0} s: killed (log: {silo.LogPath})")}[/]");
                silo.Kill();
                clean = false;
            }
        foreach (var silo in running)
        {
            int code = await silo.Exited;
            if (code is not (ExitCodes.Ok or ExitCodes.Interrupted) && clean) // 130: stopped while it was starting
            {
                console.MarkupLine($"[red]{Markup.Escape($"{silo.Spec.Name} exited with {code} while stopping (log: {silo.LogPath})")}[/]");
                clean = false;
            }
        }
        if (clean) console.MarkupLine("stopped");
        return clean;
    }

    /// <summary>What becomes of the grains on a lost silo's devices: those with a fallback move there, jobs that need the rest fail.</summary>
    private static string WhatMoves(ClusterConfig config, SiloSpec lost)
    {
        var placed = config.Placement.Where(p => p.Value.Any(lost.Devices.Contains)).Select(p => p.Key).ToList();
        var moves = placed.Where(config.Fallback.ContainsKey)
            .Select(s => $"{s.Name()} moves to its fallback {config.Fallback[s]} (silo {config.OwnerOf(config.Fallback[s]).Name})").ToList();
        var stranded = placed.Where(s => !config.Fallback.ContainsKey(s)).Select(s => s.Name()).ToList();
        if (stranded.Count > 0) moves.Add($"jobs that need {string.Join(", ", stranded)} (on {string.Join(", ", lost.Devices)}) fail with UNAVAILABLE");
        return moves.Count > 0 ? string.Join("; ", moves) : $"no grain is placed on {string.Join(", ", lost.Devices)}";
    }

    private static void ReportExit(IAnsiConsole console, SiloProcess silo, string when)
    {
        console.MarkupLine($"[red]{Markup.Escape($"silo {silo.Spec.Name} (pid {silo.Id}) exited with code {silo.Exited.Result} {when}")}[/]");
        ShowTail(console, silo);
    }

    private static void ShowTail(IAnsiConsole console, SiloProcess silo)
    {
        var tail = silo.Tail();
        console.MarkupLine(Markup.Escape(tail.Count == 0 ? $"its log {silo.LogPath} is empty" : $"last lines of {silo.LogPath}:"));
        foreach (var line in tail) console.MarkupLine(Markup.Escape("  | " + line));
    }
}
