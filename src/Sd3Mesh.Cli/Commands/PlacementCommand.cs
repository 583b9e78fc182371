using System.CommandLine;
using System.Globalization;
using Grpc.Core;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Runtime.Config;
using Spectre.Console;
using ClusterClient = Sd3Mesh.Protos.V1.Cluster.ClusterClient;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh placement [--server URL]`: where a cluster's grains are (grain -> silo -> device), their state, calls,
/// latency and weights, and each device's memory, from the Cluster API (ListGrains, ListDevices, ListSilos). Exit codes
/// (<see cref="ExitCodes"/>): 0 shown, 2 a bad URL, 3 the server could not be reached.
/// </summary>
public static class PlacementCommand
{
    public static Command Create()
    {
        var server = new Option<string>("--server") { Description = "sd3mesh server URL (a cluster's primary silo)", DefaultValueFactory = _ => ServerChannel.DefaultAddress };
        var tokenFile = CliOptions.TokenFile();
        var command = new Command("placement", "Show where a cluster's SD3 grains run: grain -> silo -> device, state, calls, latency, memory");
        command.Options.Add(server);
        command.Options.Add(tokenFile);
        command.SetAction((parse, ct) => RunAsync(AnsiConsole.Console, parse.GetValue(server)!, ct, parse.GetValue(tokenFile)));
        return command;
    }

    public static async Task<int> RunAsync(IAnsiConsole console, string address, CancellationToken cancellationToken, FileInfo? tokenFile = null)
    {
        using var channel = ServerChannel.Open(address, console, tokenFile, out var server);
        if (channel is null) return ExitCodes.Usage;
        var client = new ClusterClient(channel);
        try
        {
            var silos = (await client.ListSilosAsync(new ListSilosRequest(), cancellationToken: cancellationToken)).Silos;
            var devices = (await client.ListDevicesAsync(new ListDevicesRequest(), cancellationToken: cancellationToken)).Devices;
            var grains = (await client.ListGrainsAsync(new ListGrainsRequest(), cancellationToken: cancellationToken)).Grains;
            Show(console, silos, devices, grains);
            return ExitCodes.Ok;
        }
        catch (RpcException e)
        {
            console.MarkupLine($"[red]{Markup.Escape(ServerChannel.Describe(e, server))}[/]");
            return ExitCodes.FromStatus(e.StatusCode);
        }
    }

    public static void Show(IAnsiConsole console, IReadOnlyList<Silo> silos, IReadOnlyList<Device> devices, IReadOnlyList<Grain> grains)
    {
        var status = silos.ToDictionary(s => s.Id, s => s.Status);
        var models = grains.Select(g => g.Key.Split('/')[0]).Distinct().ToList();
        if (models.Count > 0) console.MarkupLine(Markup.Escape($"model {string.Join(", ", models)}"));

        var grainTable = new Table().AddColumns("Grain", "Silo", "Device", "State", "Calls", "Mean ms", "p95 ms", "Weights", "Loads", "Last error");
        foreach (var g in grains)
            grainTable.AddRow(Markup.Escape(g.Submodule), Markup.Escape(g.SiloId), Markup.Escape(g.Device), StateMarkup(g.State),
                g.Calls.ToString(CultureInfo.InvariantCulture), Ms(g.MeanLatencyMs, g.Calls), Ms(g.P95LatencyMs, g.Calls),
                ByteSize.Format((long)g.WeightBytes), g.Loads.ToString(CultureInfo.InvariantCulture), Markup.Escape(g.LastError));
        console.Write(grainTable);

        var deviceTable = new Table().AddColumns("Device", "Silo", "Weights loaded", "Budget", "Used / total", "Evictions", "Description");
        foreach (var d in devices)
        {
            string silo = status.TryGetValue(d.SiloId, out var s) ? $"{d.SiloId} ({SiloStatusName(s)})" : d.SiloId;
            deviceTable.AddRow(Markup.Escape(d.Name), Markup.Escape(silo), ByteSize.Format((long)d.WeightsLoadedBytes),
                d.MemoryBudgetBytes == 0 ? "no limit" : ByteSize.Format((long)d.MemoryBudgetBytes),
                d.MemoryTotalBytes == 0 ? "" : $"{ByteSize.Format((long)d.MemoryUsedBytes)} / {ByteSize.Format((long)d.MemoryTotalBytes)}",
                d.Evictions.ToString(CultureInfo.InvariantCulture), Markup.Escape(d.Description));
        }
        console.Write(deviceTable);
    }

    private static string Ms(double value, ulong calls) => calls == 0 ? "" : value.ToString("F1", CultureInfo.InvariantCulture);

    private static string SiloStatusName(SiloStatus status) => status switch
    {
        SiloStatus.Active => "active",
        SiloStatus.Joining => "joining",
        SiloStatus.ShuttingDown => "shutting down",
        SiloStatus.Dead => "dead",
        _ => "unknown",
    };

    private static string StateMarkup(GrainState state) => state switch
    {
        GrainState.Active => "[green]active[/]",
        GrainState.Loading => "[blue]loading[/]",
        GrainState.Offloaded => "offloaded",
        GrainState.Inactive => "inactive",
        GrainState.Failed => "[red]failed[/]",
        GrainState.Unavailable => "[red]unavailable[/]",
        GrainState.Activating => "activating",
        GrainState.Deactivating => "deactivating",
        _ => "unknown",
    };
}
