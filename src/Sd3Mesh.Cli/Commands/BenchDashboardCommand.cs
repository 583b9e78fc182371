using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Sd3Mesh.Models;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Server;
using Sd3Mesh.Server.Generation;
using Sd3Mesh.Server.Grpc;
using Spectre.Console;
using Device = Sd3Mesh.Onnx.Device;
using GenerationApi = Sd3Mesh.Protos.V1.Generation;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// What connected dashboard pages cost a job: the same job on one silo (`sd3mesh serve`'s one-silo cluster, its web
/// endpoint on) with no page connected and with N pages connected, in interleaved rounds (the order shuffled each
/// round), medians over rounds. A page here is what the dashboard's script asks of the server: the event stream
/// (/api/events), every new step preview, every new result thumbnail, and the timeline of the newest job when its span
/// count changes (a running job's at most once a second); the browser's own drawing is the browser machine's cost, not
/// the server's. The pages run in a child process at idle priority (they take only CPU the server leaves idle, as
/// browsers on other machines would take none), so the process CPU time measured per job is the server's alone; each
/// job starts a second after its pages connected (what a page loads when it opens is not the job's cost).
/// <code>sd3mesh bench dashboard [--pages 10] [--rounds 15] [--steps 28] [--size 256] [--preview 1] [--models DIR]
///   [--device cpu|cuda:N] [--idle-seconds 5] [--json FILE]</code>
/// The pages' child process is this program: `sd3mesh bench dashboard-pages` (<see cref="DashboardPages"/>).
/// </summary>
public static class BenchDashboardCommand
{
    public const int MaxPages = 1000;
    private const int WarmupJobs = 4;

    /// <param name="Models">an SD3 ONNX model folder; null: the tiny preset's seeded models (the silo creates them in its cache)</param>
    /// <param name="IdleSeconds">how long each of the four between-jobs CPU measurements lasts (0: none)</param>
    public sealed record Settings(int Pages = 10, int Rounds = 15, int Steps = 28, int Size = 256, int Preview = 1, string? Models = null,
        Device? Device = null, int IdleSeconds = 5, string? Json = null);

    public static IEnumerable<Command> Subcommands()
    {
        yield return Create();
        yield return DashboardPages.Create();
    }

    private static Command Create()
    {
        var defaults = new Settings();
        var pages = new Option<int>("--pages") { Description = "Dashboard pages connected in the measured arm", DefaultValueFactory = _ => defaults.Pages };
        var rounds = new Option<int>("--rounds") { Description = "Rounds, each one job with no page and one with the pages (in a shuffled order)", DefaultValueFactory = _ => defaults.Rounds };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => defaults.Steps };
        var size = new Option<int>("--size") { Description = "Width and height", DefaultValueFactory = _ => defaults.Size };
        var preview = new Option<int>("--preview") { Description = "A step preview every N steps (0: none)", DefaultValueFactory = _ => defaults.Preview };
        var models = new Option<DirectoryInfo?>("--models") { Description = "SD3 ONNX model folder; default: the tiny preset's seeded models" };
        var device = CliOptions.Device("--device", "cpu, cpu:N or cuda:N: the silo's device (default cpu)");
        var idle = new Option<int>("--idle-seconds") { Description = "Length of each between-jobs server CPU measurement (0: skip them)", DefaultValueFactory = _ => defaults.IdleSeconds };
        var json = new Option<FileInfo?>("--json") { Description = "Also write the settings, every round and the summary to this JSON file" };
        var command = new Command("dashboard", "What N connected dashboard pages cost a job: job time and server CPU, with and without pages, in interleaved rounds");
        foreach (var o in new Option[] { pages, rounds, steps, size, preview, models, device, idle, json }) command.Options.Add(o);
        command.SetAction((parse, ct) => RunAsync(AnsiConsole.Console, new Settings(parse.GetValue(pages), parse.GetValue(rounds), parse.GetValue(steps),
            parse.GetValue(size), parse.GetValue(preview), parse.GetValue(models)?.FullName, parse.GetValue(device), parse.GetValue(idle),
            parse.GetValue(json)?.FullName), ct));
        return command;
    }

    /// <summary>One round: the job with no page and with the pages, in the order they ran.</summary>
    public sealed record Round(int Number, bool PagesFirst, double NoPageMs, double PagesMs, double NoPageCpuSeconds, double PagesCpuSeconds);

    /// <summary>The server's CPU between jobs, with no page or with the pages connected.</summary>
    public sealed record Idle(int Pages, double CpuMsPerSecond);

    /// <summary>One arm over the rounds: job time median and best, server CPU per job median.</summary>
    public sealed record Arm(int Pages, double JobMedianMs, double JobBestMs, double CpuMedianSeconds);

    /// <summary>The pages' arm over the no-page arm, and what a page asked of the server per job.</summary>
    public sealed record Summary(Arm NoPage, Arm WithPages, double JobMedianRatio, double RoundRatioMedian, double RoundRatioLowerQuartile,
        double RoundRatioUpperQuartile, double CpuMedianRatio, double EventsPerPageJob, double FetchesPerPageJob, double KibPerPageJob);

    public static async Task<int> RunAsync(IAnsiConsole console, Settings s, CancellationToken ct = default)
    {
        var device = s.Device ?? Device.Cpu;
        var request = new GenerateRequest
        {
            Prompt = "a lighthouse at dusk", Width = (uint)Math.Max(s.Size, 0), Height = (uint)Math.Max(s.Size, 0), Steps = (uint)Math.Max(s.Steps, 0), Seed = 1,
            PreviewInterval = (uint)Math.Max(s.Preview, 0),
        };
        if (Check(s, device, request) is { } error)
        {
            console.MarkupLine($"[red]error:[/] {Markup.Escape(error)}");
            return ExitCodes.Usage;
        }
        var model = s.Models is null ? new ModelSpec(null, "tiny") : new ModelSpec(s.Models, null);
        console.WriteLine($"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, .NET {Environment.Version}, {Environment.ProcessorCount} logical cores, " +
                          $"load average {LoadAverage()}; model {model}, {device}, {s.Size}x{s.Size}, {s.Steps} steps, preview every {s.Preview}, " +
                          $"{s.Pages} pages, {s.Rounds} rounds after {WarmupJobs} warm-up jobs; tiered JIT {(Environment.GetEnvironmentVariable("DOTNET_TieredCompilation") == "0" ? "off" : "on")}");

        var config = EmbeddedCluster.Config(model, device);
        await using var host = ClusterSilo.Create(config, config.Primary.Name, new SiloHostOptions
        {
            HttpListen = "127.0.0.1:0", Logging = l => l.SetMinimumLevel(LogLevel.Warning),
        }, listen: "127.0.0.1:0");
        await host.StartAsync(ct);
        using var channel = GrpcChannels.Create(host.Address);
        var client = new GenerationApi.GenerationClient(channel);
        var dashboard = host.DashboardAddress!;
        int pages = s.Pages;
        // Warm-up: jobs with and without pages, so that both paths are compiled (tiered JIT) before anything is timed.
        for (int i = 0; i < WarmupJobs; i++)
        {
            using var warm = i % 2 == 1 ? await DashboardPages.PagesProcess.StartAsync(dashboard, pages) : null;
            await RunJobAsync(client, request, ct);
            if (warm is not null) await warm.StopAsync();
        }

        // Between jobs: the server's CPU over a few seconds with no page and with the pages connected (the feed's own cost).
        var idle = new List<Idle>();
        foreach (bool connected in s.IdleSeconds > 0 ? new[] { false, true, false, true } : [])
        {
            using var feed = connected ? await DashboardPages.PagesProcess.StartAsync(dashboard, pages) : null;
            var before = Process.GetCurrentProcess().TotalProcessorTime;
            await Task.Delay(TimeSpan.FromSeconds(s.IdleSeconds), ct);
            double perSecond = (Process.GetCurrentProcess().TotalProcessorTime - before).TotalMilliseconds / s.IdleSeconds;
            if (feed is not null) await feed.StopAsync();
            idle.Add(new Idle(connected ? pages : 0, perSecond));
            console.WriteLine($"idle, {(connected ? $"{pages} pages" : "no page")}: server CPU {perSecond:F1} ms per second");
        }

        var off = new List<double>();
        var on = new List<double>();
        var cpuOff = new List<double>();
        var cpuOn = new List<double>();
        var random = new Random(7);
        var traffic = new List<DashboardPages.Traffic>();
        var rounds = new List<Round>();
        for (int round = 0; round < s.Rounds; round++)
        {
            var order = random.Next(2) == 0 ? new[] { false, true } : [true, false];
            foreach (bool connected in order)
            {
                using var browser = connected ? await DashboardPages.PagesProcess.StartAsync(dashboard, pages) : null;
                await Task.Delay(1000, ct); // connected, not connecting: what a page loads when it opens (thumbnails) is done
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                double seconds = await RunJobAsync(client, request, ct);
                double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
                if (browser is not null)
                {
                    await Task.Delay(300, ct); // the pages see the end, fetch the result and the timeline, as a page does
                    traffic.Add(await browser.StopAsync());
                }
                (connected ? on : off).Add(seconds);
                (connected ? cpuOn : cpuOff).Add(cpuSeconds);
            }
            rounds.Add(new Round(round + 1, order[0], off[^1] * 1000, on[^1] * 1000, cpuOff[^1], cpuOn[^1]));
            console.WriteLine($"round {round + 1,2}: no page {off[^1] * 1000,8:F1} ms ({cpuOff[^1]:F3} s CPU), " +
                              $"{pages} pages {on[^1] * 1000,8:F1} ms ({cpuOn[^1]:F3} s CPU)");
        }

        var ratios = off.Zip(on, (a, b) => b / a).Order().ToList();
        double PerPage(Func<DashboardPages.Traffic, long> field) => traffic.Average(t => (double)field(t)) / pages;
        var summary = new Summary(new Arm(0, Median(off) * 1000, off.Min() * 1000, Median(cpuOff)), new Arm(pages, Median(on) * 1000, on.Min() * 1000, Median(cpuOn)),
            Median(on) / Median(off), Median(ratios), ratios[ratios.Count / 4], ratios[3 * ratios.Count / 4], Median(cpuOn) / Median(cpuOff),
            PerPage(t => t.Events), PerPage(t => t.Fetches), PerPage(t => t.Bytes) / 1024);
        // A Markdown table, as docs/benchmarks.md records it.
        console.WriteLine();
        console.WriteLine("| | job, median (ms) | best (ms) | server CPU per job, median (s) |");
        console.WriteLine("|---|---:|---:|---:|");
        foreach (var arm in new[] { summary.NoPage, summary.WithPages })
            console.WriteLine($"| {(arm.Pages == 0 ? "no page" : $"{arm.Pages} pages")} | {arm.JobMedianMs:F1} | {arm.JobBestMs:F1} | {arm.CpuMedianSeconds:F3} |");
        console.WriteLine();
        console.WriteLine($"{pages} pages / no page: job time medians {summary.JobMedianRatio:F4}, per-round ratios median {summary.RoundRatioMedian:F4} " +
                          $"(quartiles {summary.RoundRatioLowerQuartile:F4} .. {summary.RoundRatioUpperQuartile:F4}); server CPU medians {summary.CpuMedianRatio:F4}; " +
                          $"per page and job: {summary.EventsPerPageJob:F1} events, {summary.FetchesPerPageJob:F1} fetches, {summary.KibPerPageJob:F1} KiB");
        if (s.Json is not null)
        {
            await File.WriteAllTextAsync(s.Json, JsonSerializer.Serialize(new Report(s with { Device = device }, model.ToString(), Environment.ProcessorCount,
                LoadAverage(), Environment.Version.ToString(), DateTime.UtcNow, idle, rounds, summary), JsonOptions), ct);
            console.WriteLine($"wrote {s.Json}");
        }
        return ExitCodes.Ok;
    }

    /// <summary>The first thing wrong with the settings, naming its option; null when they can run.</summary>
    private static string? Check(Settings s, Device device, GenerateRequest request)
    {
        if (s.Pages is < 1 or > MaxPages) return $"--pages must be between 1 and {MaxPages}, got {s.Pages}";
        if (s.Rounds < 1) return $"--rounds must be at least 1, got {s.Rounds}";
        if (s.Preview < 0) return $"--preview must be at least 0 (0: no previews), got {s.Preview}";
        if (s.IdleSeconds is < 0 or > 600) return $"--idle-seconds must be between 0 and 600, got {s.IdleSeconds}";
        Sd3ModelConfig? model = null;
        try
        {
            CudaSupport.EnsureUsable(device);
            if (s.Models is not null) model = Sd3ModelFolder.Open(s.Models).Model;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException or DeviceUnavailableException)
        {
            return (s.Models is not null && e is not DeviceUnavailableException ? "--models: " : "") + e.Message;
        }
        // The server's own validation of the job (the silo would refuse it at the first warm-up job).
        try
        {
            _ = GenerateRequests.ToSpec(request, model);
        }
        catch (InvalidGenerationRequestException e)
        {
            var error = e.Errors[0];
            string option = error.Field switch { "width" or "height" => "--size", "preview_interval" => "--preview", var f => "--" + f.Replace('_', '-') };
            return $"{option}: {error.Message}";
        }
        return null;
    }

    /// <summary>Seconds from submitting the job to its finished event.</summary>
    private static async Task<double> RunJobAsync(GenerationApi.GenerationClient client, GenerateRequest request, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        using var call = client.Generate(request, cancellationToken: ct);
        await foreach (var e in call.ResponseStream.ReadAllAsync(ct))
            if (e.EventCase == JobEvent.EventOneofCase.Finished) return clock.Elapsed.TotalSeconds;
            else if (e.EventCase is JobEvent.EventOneofCase.Failed or JobEvent.EventOneofCase.Cancelled) throw new InvalidOperationException($"the job ended: {e}");
        throw new InvalidOperationException("the job's stream ended without an end");
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";

    private sealed record Report(Settings Settings, string Model, int CpuCores, string LoadAverage, string Dotnet, DateTime Date,
        IReadOnlyList<Idle> Idle, IReadOnlyList<Round> Rounds, Summary Summary);

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new DeviceJsonConverter() },
    };

    /// <summary>A device as its string (cuda:0).</summary>
    private sealed class DeviceJsonConverter : System.Text.Json.Serialization.JsonConverter<Device>
    {
        public override Device Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => Device.Parse(reader.GetString()!);
        public override void Write(Utf8JsonWriter writer, Device value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
    }
}
