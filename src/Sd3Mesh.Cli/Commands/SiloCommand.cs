using System.CommandLine;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Sd3Mesh.Cli.Cluster;
using Sd3Mesh.Models;
using Sd3Mesh.Runtime.Catalog;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Placement;
using Sd3Mesh.Server;
using Sd3Mesh.Server.Security;
using Sd3Mesh.Server.Jobs.Storage;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh silo --config FILE --name NAME [--log FILE] [--parent-pid PID]`: one silo of a cluster config in this
/// process (<see cref="ClusterSilo"/>: an Orleans silo owning its devices, its gRPC endpoint with the tensor transport,
/// and on the primary the public API), logging to stdout or FILE until Ctrl+C, SIGINT or SIGTERM, or until PID ends (how
/// `cluster up` keeps its silos from outliving it); then a graceful stop and exit 0. A config that cannot be used, or
/// cannot be met by the model, exits 2 with every problem named by field; a port in use exits 1.
/// </summary>
public static class SiloCommand
{
    public sealed record Settings(FileInfo Config, string Name, int? ParentPid = null, FileInfo? Log = null);

    public static Command Create()
    {
        var config = new Option<FileInfo>("--config") { Description = "Cluster config (cluster/*.json, see cluster/README.md)", Required = true };
        var name = new Option<string>("--name") { Description = "Which of the config's silos this process runs", Required = true };
        var parent = new Option<int?>("--parent-pid") { Description = "Stop when the process with this id ends (`cluster up` passes its own)" };
        var log = new Option<FileInfo?>("--log") { Description = "Write everything (log and messages) to this file, appended, instead of stdout" };
        var command = new Command("silo", "Run one silo of a cluster config (`cluster up` starts one per silo)");
        foreach (var option in new Option[] { config, name, parent, log }) command.Options.Add(option);
        command.SetAction((parse, ct) => RunAsync(AnsiConsole.Console,
            new Settings(parse.GetValue(config)!, parse.GetValue(name)!, parse.GetValue(parent), parse.GetValue(log)), ct));
        return command;
    }

    /// <summary>How a silo logs: one line per event on stdout (or its --log file, without colours).</summary>
    public static void Logging(ILoggingBuilder logging, bool toFile) => logging
        .AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-dd HH:mm:ss.fff ";
            if (toFile) o.ColorBehavior = LoggerColorBehavior.Disabled;
        })
        .SetMinimumLevel(LogLevel.Information)
        // Kestrel's per-request lines and Orleans' start-up chatter drown what matters; Logging__LogLevel__CATEGORY in
        // the environment brings any of them back (a more specific category wins over these).
        .AddFilter("Microsoft", LogLevel.Warning)
        .AddFilter("Orleans", LogLevel.Warning)
        .AddFilter("Polly", LogLevel.Warning);

    public static async Task<int> RunAsync(IAnsiConsole console, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Log is { } log)
        {
            try
            {
                console = SiloLog.Redirect(log.FullName, settings.Name);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                console.MarkupLine($"[red]{Markup.Escape($"--log: cannot write '{log.FullName}': {e.Message}")}[/]");
                return ExitCodes.Usage;
            }
        }
        ClusterConfig config;
        SiloSpec spec;
        try
        {
            config = ClusterConfigReader.Load(settings.Config.FullName);
            spec = config.Silo(settings.Name);
            if (settings.ParentPid is { } pid && !PosixProcesses.Exists(pid))
                throw new ArgumentException($"--parent-pid: there is no process {pid}");
        }
        catch (Exception e) when (e is ClusterConfigException or ArgumentException)
        {
            console.MarkupLine($"[red]{Markup.Escape(e.Message)}[/]");
            return ExitCodes.Usage;
        }

        // The primary serves the public API: beyond loopback it needs a token (never written here: this output may be a log).
        ApiToken? token;
        try
        {
            token = spec.Primary ? ApiToken.Resolve([new IPEndPoint(IPAddress.Parse(spec.Host), spec.GrpcPort)],
                Environment.GetEnvironmentVariable(ApiToken.Variable), config.Store?.DataFolder ?? StoreSpec.DefaultDataFolder(config.Name)) : null;
        }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException)
        {
            console.MarkupLine($"[red]{Markup.Escape(e.Message)}[/]");
            return ExitCodes.Usage;
        }
        var host = ClusterSilo.Create(config, spec.Name, new SiloHostOptions
        {
            Logging = logging => Logging(logging, settings.Log is not null),
            ApiToken = token,
        });
        try
        {
            await host.StartAsync(cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            try { await host.DisposeAsync(); }
            catch (InvalidOperationException) { } // Orleans refuses to stop a silo that never ran: nothing to stop
            return StartFailed(console, config, spec, e);
        }

        if (token is not null)
            console.MarkupLine(Markup.Escape($"calls to the public API need the {token}{(token.Generated ? " (generated now; read it there)" : "")}"));
        await using (host)
            return await RunStartedAsync(console, settings, config, spec, host, cancellationToken);
    }

    /// <summary>Says what the started silo holds, then runs it until it is asked to stop (or its supervisor has ended).</summary>
    private static async Task<int> RunStartedAsync(IAnsiConsole console, Settings settings, ClusterConfig config, SiloSpec spec, SiloHost host,
        CancellationToken cancellationToken)
    {
        var catalog = host.Services.GetRequiredService<ModelCatalog>();
        var mine = catalog.Plan.Grains.Where(g => g.Silo == spec.Name).Select(g => $"{g.Submodule.Name()} on {g.Key.Device}").ToList();
        console.MarkupLine(Markup.Escape($"silo {spec.Name} of cluster {config.Name} is active{(spec.Primary ? " (primary: the public API)" : "")}: " +
                                         $"devices {string.Join(", ", spec.Devices)}; gRPC {host.Address}; {Endpoints(spec)}"));
        console.MarkupLine(Markup.Escape($"model {catalog.ModelId}; grains here: {(mine.Count == 0 ? "none" : string.Join(", ", mine))}"));
        foreach (var warning in catalog.Plan.Warnings) console.MarkupLine($"[yellow]{Markup.Escape(warning)}[/]");
        if (host.Jobs.Store.Journal is { } journal && config.Store is { } store)
            console.MarkupLine(Markup.Escape($"jobs kept in {journal.Description}, results in {store.DataFolder}"));
        if (host.DashboardAddress is { } dashboard)
            console.MarkupLine(Markup.Escape($"dashboard at {dashboard} (Orleans dashboard at {ClusterSilo.OrleansDashboardPath}/, Prometheus metrics at /metrics)"));
        else if (host.HttpAddress is { } web)
            console.MarkupLine(Markup.Escape($"web at {web} (Prometheus metrics at /metrics, Orleans dashboard at {ClusterSilo.OrleansDashboardPath}/)"));
        console.MarkupLine(settings.ParentPid is { } parentPid ? $"stops with process {parentPid}, or on Ctrl+C" : "Ctrl+C stops");

        var lifetime = host.App.Services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.ApplicationStopping.Register(() => console.MarkupLine(Markup.Escape($"silo {spec.Name} stopping: cancelling jobs, leaving the cluster")));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (settings.ParentPid is { } watched)
            _ = WatchParentAsync(console, watched, stop, lifetime.ApplicationStopping);
        await host.WaitForShutdownAsync(stop.Token);
        console.MarkupLine(Markup.Escape($"silo {spec.Name} stopped"));
        return ExitCodes.Ok;
    }

    /// <summary>One line saying why the silo could not start: 2 when the model or its placement is wrong, 1 when a port is taken or anything else.</summary>
    private static int StartFailed(IAnsiConsole console, ClusterConfig config, SiloSpec spec, Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } aggregate) e = aggregate.InnerExceptions[0];
        var (code, what) = e switch
        {
            StackExchange.Redis.RedisConnectionException => (ExitCodes.Failed, RedisCheck.NoAnswer(config.Clustering)),
            ClusterConfigException or DevicePlacementException or ModelFormatException or DirectoryNotFoundException or FileNotFoundException =>
                (ExitCodes.Usage, e.Message),
            // Kestrel's endpoint (IOException), Orleans' silo or gateway port (AddressInUseException).
            IOException or AddressInUseException => (ExitCodes.Failed, $"cannot listen on {Endpoints(spec)}: {e.Message}"),
            JobStoreException => (ExitCodes.Failed, $"job store: {e.Message}"),
            _ => (ExitCodes.Failed, $"{e.Message} ({e.GetType().Name})"),
        };
        console.MarkupLine($"[red]{Markup.Escape($"silo {spec.Name} cannot start: {what}")}[/]");
        return code;
    }

    private static async Task WatchParentAsync(IAnsiConsole console, int pid, CancellationTokenSource stop, CancellationToken stopping)
    {
        try
        {
            await PosixProcesses.WaitForExitAsync(pid, stopping);
            console.MarkupLine(Markup.Escape($"process {pid} (the silo's supervisor) has ended"));
            await stop.CancelAsync();
        }
        catch (OperationCanceledException)
        {
            // The silo stops for another reason.
        }
    }

    private static string Endpoints(SiloSpec spec) =>
        $"silo port {spec.Host}:{spec.SiloPort}, gateway {spec.Host}:{spec.GatewayPort}, gRPC {spec.Host}:{spec.GrpcPort}" +
        (spec.WebPort > 0 ? $", web {spec.Host}:{spec.WebPort}" : "");
}
