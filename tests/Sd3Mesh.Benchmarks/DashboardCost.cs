using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Device = Sd3Mesh.Onnx.Device;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Server;
using Sd3Mesh.Server.Grpc;
using GenerationApi = Sd3Mesh.Protos.V1.Generation;

namespace Sd3Mesh.Benchmarks;

/// <summary>
/// What connected dashboard pages cost a job: the same job on one silo (`sd3mesh serve`'s one-silo cluster, its web
/// endpoint on) with no page connected and with N pages connected, in interleaved rounds (the order shuffled each
/// round), medians over rounds. A page here is what the dashboard's script asks of the server: the event stream
/// (/api/events), every new step preview, every new result thumbnail, and the timeline of the newest job when its span
/// count changes (a running job's at most once a second); the browser's own drawing is the browser machine's cost, not
/// the server's. The pages run in a child process at idle priority (they take only CPU the server leaves idle, as
/// browsers on other machines would take none), so the process CPU time measured per job is the server's alone; each
/// job starts a second after its pages connected (what a page loads when it opens is not the job's cost).
/// <code>dotnet run -c Release --project tests/Sd3Mesh.Benchmarks -- dashboard [--pages 10] [--rounds 15] [--steps 28]
///   [--size 256] [--preview 1] [--models DIR] [--device cpu|cuda:N]</code>
/// </summary>
public static class DashboardCost
{
    public static async Task RunAsync(string[] args)
    {
        int pages = Int(args, "--pages", 10), rounds = Int(args, "--rounds", 15), steps = Int(args, "--steps", 28);
        int size = Int(args, "--size", 256), previewInterval = Int(args, "--preview", 1);
        var device = Device.Parse(Option(args, "--device") ?? "cpu");
        string? models = Option(args, "--models");
        var model = models is null ? new ModelSpec(null, "tiny") : new ModelSpec(Path.GetFullPath(models), null);
        Console.WriteLine($"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, .NET {Environment.Version}, {Environment.ProcessorCount} logical cores, " +
                          $"load average {LoadAverage()}; model {model}, {device}, {size}x{size}, {steps} steps, preview every {previewInterval}, " +
                          $"{pages} pages, {rounds} rounds after 4 warm-up jobs; tiered JIT {(Environment.GetEnvironmentVariable("DOTNET_TieredCompilation") == "0" ? "off" : "on")}");

        var config = EmbeddedCluster.Config(model, device);
        await using var host = ClusterSilo.Create(config, config.Primary.Name, new SiloHostOptions
        {
            HttpListen = "127.0.0.1:0", Logging = l => l.SetMinimumLevel(LogLevel.Warning),
        }, listen: "127.0.0.1:0");
        await host.StartAsync();
        using var channel = GrpcChannels.Create(host.Address);
        var client = new GenerationApi.GenerationClient(channel);
        var request = new GenerateRequest { Prompt = "a lighthouse at dusk", Width = (uint)size, Height = (uint)size, Steps = (uint)steps, Seed = 1, PreviewInterval = (uint)previewInterval };
        // Warm-up: jobs with and without pages, so that both paths are compiled (tiered JIT) before anything is timed.
        for (int i = 0; i < 4; i++)
        {
            using var warm = i % 2 == 1 ? await PagesProcess.StartAsync(host.DashboardAddress!, pages) : null;
            await RunJobAsync(client, request);
            if (warm is not null) await warm.StopAsync();
        }

        // Between jobs: the server's CPU over a few seconds with no page and with the pages connected (the feed's own cost).
        foreach (bool connected in new[] { false, true, false, true })
        {
            using var idle = connected ? await PagesProcess.StartAsync(host.DashboardAddress!, pages) : null;
            var before = Process.GetCurrentProcess().TotalProcessorTime;
            await Task.Delay(TimeSpan.FromSeconds(5));
            double perSecond = (Process.GetCurrentProcess().TotalProcessorTime - before).TotalMilliseconds / 5;
            if (idle is not null) await idle.StopAsync();
            Console.WriteLine($"idle, {(connected ? $"{pages} pages" : "no page")}: server CPU {perSecond:F1} ms per second");
        }

        var off = new List<double>();
        var on = new List<double>();
        var cpuOff = new List<double>();
        var cpuOn = new List<double>();
        var random = new Random(7);
        var traffic = new List<JsonElement>();
        for (int round = 0; round < rounds; round++)
        {
            foreach (bool connected in random.Next(2) == 0 ? new[] { false, true } : [true, false])
            {
                using var browser = connected ? await PagesProcess.StartAsync(host.DashboardAddress!, pages) : null;
                await Task.Delay(1000); // connected, not connecting: what a page loads when it opens (thumbnails) is done
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                double seconds = await RunJobAsync(client, request);
                double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
                if (browser is not null)
                {
                    await Task.Delay(300); // the pages see the end, fetch the result and the timeline, as a page does
                    traffic.Add(await browser.StopAsync());
                }
                (connected ? on : off).Add(seconds);
                (connected ? cpuOn : cpuOff).Add(cpuSeconds);
            }
            Console.WriteLine($"round {round + 1,2}: no page {off[^1] * 1000,8:F1} ms ({cpuOff[^1]:F3} s CPU), " +
                              $"{pages} pages {on[^1] * 1000,8:F1} ms ({cpuOn[^1]:F3} s CPU)");
        }

        var ratios = off.Zip(on, (a, b) => b / a).Order().ToList();
        double PerPage(string field) => traffic.Average(t => t.GetProperty(field).GetDouble()) / pages;
        Console.WriteLine();
        Console.WriteLine("| | job, median (ms) | best (ms) | server CPU per job, median (s) |");
        Console.WriteLine("|---|---:|---:|---:|");
        Console.WriteLine($"| no page | {Median(off) * 1000:F1} | {off.Min() * 1000:F1} | {Median(cpuOff):F3} |");
        Console.WriteLine($"| {pages} pages | {Median(on) * 1000:F1} | {on.Min() * 1000:F1} | {Median(cpuOn):F3} |");
        Console.WriteLine();
        Console.WriteLine($"{pages} pages / no page: job time medians {Median(on) / Median(off):F4}, per-round ratios median {Median(ratios):F4} " +
                          $"(quartiles {ratios[ratios.Count / 4]:F4} .. {ratios[3 * ratios.Count / 4]:F4}); server CPU medians {Median(cpuOn) / Median(cpuOff):F4}; " +
                          $"per page and job: {PerPage("events"):F1} events, {PerPage("fetches"):F1} fetches, {PerPage("bytes") / 1024:F1} KiB");
    }

    /// <summary>`dashboard-pages URL N`: N pages on the dashboard until stdin closes; "ready" once every page has its first events, then its traffic as JSON.</summary>
    public static async Task RunPagesAsync(string[] args)
    {
        var pages = Enumerable.Range(0, int.Parse(args[1], CultureInfo.InvariantCulture)).Select(_ => new Page(new Uri(args[0]))).ToList();
        using var stop = new CancellationTokenSource();
        var running = pages.Select(p => p.RunAsync(stop.Token)).ToList();
        await Task.WhenAll(pages.Select(p => p.Ready));
        Console.WriteLine("ready");
        await Console.In.ReadToEndAsync();
        stop.Cancel();
        await Task.WhenAll(running);
        Console.WriteLine(JsonSerializer.Serialize(new { events = pages.Sum(p => p.Events), fetches = pages.Sum(p => p.Fetches), bytes = pages.Sum(p => p.Bytes) }));
    }

    /// <summary>The pages' child process (this program, `dashboard-pages`).</summary>
    private sealed class PagesProcess : IDisposable
    {
        private readonly Process _process;

        private PagesProcess(Process process) => _process = process;

        public static async Task<PagesProcess> StartAsync(Uri dashboard, int pages)
        {
            string self = typeof(DashboardCost).Assembly.Location;
            bool viaDotnet = Path.GetFileNameWithoutExtension(Environment.ProcessPath ?? "") == "dotnet";
            var info = new ProcessStartInfo(viaDotnet ? Environment.ProcessPath! : Path.ChangeExtension(self, null))
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false,
            };
            if (viaDotnet) info.ArgumentList.Add(self);
            foreach (var a in new[] { "dashboard-pages", dashboard.ToString(), pages.ToString(CultureInfo.InvariantCulture) }) info.ArgumentList.Add(a);
            var process = Process.Start(info) ?? throw new InvalidOperationException("the pages' process did not start");
            // The browsers' own work belongs to their machine: here it only takes CPU this machine leaves idle.
            process.PriorityClass = ProcessPriorityClass.Idle;
            string? line = await process.StandardOutput.ReadLineAsync();
            if (line != "ready") throw new InvalidOperationException($"the pages' process said '{line}' instead of ready");
            return new PagesProcess(process);
        }

        public async Task<JsonElement> StopAsync()
        {
            _process.StandardInput.Close();
            string? line = await _process.StandardOutput.ReadLineAsync();
            await _process.WaitForExitAsync();
            return JsonDocument.Parse(line ?? throw new InvalidOperationException("the pages' process ended without its traffic")).RootElement.Clone();
        }

        public void Dispose()
        {
            if (!_process.HasExited) _process.Kill();
            _process.Dispose();
        }
    }

    /// <summary>Seconds from submitting the job to its finished event.</summary>
    private static async Task<double> RunJobAsync(GenerationApi.GenerationClient client, GenerateRequest request)
    {
        var clock = Stopwatch.StartNew();
        using var call = client.Generate(request);
        await foreach (var e in call.ResponseStream.ReadAllAsync())
            if (e.EventCase == JobEvent.EventOneofCase.Finished) return clock.Elapsed.TotalSeconds;
            else if (e.EventCase is JobEvent.EventOneofCase.Failed or JobEvent.EventOneofCase.Cancelled) throw new InvalidOperationException($"the job ended: {e}");
        throw new InvalidOperationException("the job's stream ended without an end");
    }

    /// <summary>A dashboard page as the server sees it (see the class summary).</summary>
    private sealed class Page(Uri dashboard)
    {
        private readonly HttpClient _http = new() { BaseAddress = dashboard };
        private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly HashSet<string> _fetched = [];
        private readonly Stopwatch _timelineClock = Stopwatch.StartNew();
        private List<JsonElement> _jobs = [];
        private string? _timeline;

        public Task Ready => _ready.Task;
        public long Bytes, Events, Fetches;

        public async Task RunAsync(CancellationToken stop)
        {
            bool jobs = false, cluster = false;
            try
            {
                using var stream = await _http.GetStreamAsync("/api/events", stop);
                using var reader = new StreamReader(stream);
                string? type = null;
                while (await reader.ReadLineAsync(stop) is { } line)
                {
                    Bytes += line.Length + 1;
                    if (line.StartsWith("event: ", StringComparison.Ordinal)) type = line[7..];
                    else if (line.StartsWith("data: ", StringComparison.Ordinal))
                    {
                        Events++;
                        using var json = JsonDocument.Parse(line.AsMemory(6));
                        if (type == "jobs")
                        {
                            jobs = true;
                            _jobs = json.RootElement.GetProperty("jobs").EnumerateArray().Select(j => j.Clone()).ToList();
                            await OnJobsAsync(stop);
                        }
                        else if (type == "job")
                        {
                            var job = json.RootElement.GetProperty("job").Clone();
                            int i = _jobs.FindIndex(j => j.GetProperty("id").GetString() == job.GetProperty("id").GetString());
                            if (i >= 0) _jobs[i] = job;
                            await OnJobsAsync(stop);
                        }
                        else cluster = true;
                        if (jobs && cluster) _ready.TrySetResult();
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
            finally
            {
                _ready.TrySetResult();
                _http.Dispose();
            }
        }

        private async Task OnJobsAsync(CancellationToken stop)
        {
            foreach (var job in _jobs)
            {
                if (job.GetProperty("previewUrl").GetString() is { } preview && job.GetProperty("state").GetString() == "running") await FetchOnceAsync(preview, stop);
                foreach (var image in job.GetProperty("images").EnumerateArray()) await FetchOnceAsync(image.GetProperty("url").GetString()!, stop);
            }
            // The page follows the newest job with spans, and reloads its timeline when they change (a running job's at most once a second).
            if (_jobs.Where(j => j.GetProperty("spans").GetInt32() > 0).OrderByDescending(j => j.GetProperty("createdAt").GetDateTime())
                    .FirstOrDefault() is { ValueKind: JsonValueKind.Object } newest)
            {
                string key = $"{newest.GetProperty("id").GetString()}:{newest.GetProperty("spans").GetInt32()}:{newest.GetProperty("state").GetString()}";
                bool running = newest.GetProperty("state").GetString() == "running";
                if (key != _timeline && (!running || _timelineClock.Elapsed >= TimeSpan.FromSeconds(1)))
                {
                    _timeline = key;
                    _timelineClock.Restart();
                    Bytes += (await _http.GetByteArrayAsync(newest.GetProperty("timelineUrl").GetString(), stop)).Length;
                    Fetches++;
                }
            }
        }

        private async Task FetchOnceAsync(string url, CancellationToken stop)
        {
            if (!_fetched.Add(url)) return;
            Bytes += (await _http.GetByteArrayAsync(url, stop)).Length;
            Fetches++;
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static string? Option(string[] args, string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;

    private static int Int(string[] args, string name, int fallback) => Option(args, name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
}
