using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// The dashboard pages of `sd3mesh bench dashboard` (<see cref="BenchDashboardCommand"/>): `sd3mesh bench dashboard-pages
/// URL N` (hidden), N pages on the dashboard at URL until stdin closes; "ready" once every page has its first events,
/// then their traffic as one line of JSON. The benchmark starts it as a child process of this same program.
/// </summary>
internal static class DashboardPages
{
    /// <summary>What the pages asked of the server: events read, requests made, bytes received.</summary>
    public sealed record Traffic(long Events, long Fetches, long Bytes);

    public static Command Create()
    {
        var url = new Argument<string>("url") { Description = "The dashboard's address" };
        var pages = new Argument<int>("pages") { Description = "Pages to open" };
        var command = new Command("dashboard-pages", "The pages of `bench dashboard` (its child process)") { Hidden = true };
        command.Arguments.Add(url);
        command.Arguments.Add(pages);
        command.SetAction((parse, ct) => RunAsync(new Uri(parse.GetValue(url)!), parse.GetValue(pages), ct));
        return command;
    }

    private static async Task<int> RunAsync(Uri dashboard, int count, CancellationToken ct)
    {
        var pages = Enumerable.Range(0, count).Select(_ => new Page(dashboard)).ToList();
        using var stop = new CancellationTokenSource();
        var running = pages.Select(p => p.RunAsync(stop.Token)).ToList();
        await Task.WhenAll(pages.Select(p => p.Ready));
        Console.WriteLine("ready");
        try
        {
            await Console.In.ReadToEndAsync(ct);
        }
        finally
        {
            stop.Cancel();
            await Task.WhenAll(running);
        }
        Console.WriteLine(JsonSerializer.Serialize(new Traffic(pages.Sum(p => p.Events), pages.Sum(p => p.Fetches), pages.Sum(p => p.Bytes))));
        return ExitCodes.Ok;
    }

    /// <summary>The pages' child process: this program, `bench dashboard-pages URL N`, at idle priority.</summary>
    public sealed class PagesProcess : IDisposable
    {
        private readonly Process _process;

        private PagesProcess(Process process) => _process = process;

        public static async Task<PagesProcess> StartAsync(Uri dashboard, int pages)
        {
            // sd3mesh.dll; run by `dotnet sd3mesh.dll` (the build, the tests) or by its app host next to it (a publish).
            string self = typeof(DashboardPages).Assembly.Location;
            bool viaDotnet = Path.GetFileNameWithoutExtension(Environment.ProcessPath ?? "") == "dotnet";
            var info = new ProcessStartInfo(viaDotnet ? Environment.ProcessPath! : Path.ChangeExtension(self, null))
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false,
            };
            if (viaDotnet) info.ArgumentList.Add(self);
            foreach (var a in new[] { "bench", "dashboard-pages", dashboard.ToString(), pages.ToString(CultureInfo.InvariantCulture) })
                info.ArgumentList.Add(a);
            var process = Process.Start(info) ?? throw new InvalidOperationException("the pages' process did not start");
            // The browsers' own work belongs to their machine: here it only takes CPU this machine leaves idle.
            process.PriorityClass = ProcessPriorityClass.Idle;
            string? line = await process.StandardOutput.ReadLineAsync();
            if (line != "ready") throw new InvalidOperationException($"the pages' process said '{line}' instead of ready");
            return new PagesProcess(process);
        }

        public async Task<Traffic> StopAsync()
        {
            _process.StandardInput.Close();
            string? line = await _process.StandardOutput.ReadLineAsync();
            await _process.WaitForExitAsync();
            return JsonSerializer.Deserialize<Traffic>(line ?? throw new InvalidOperationException("the pages' process ended without its traffic"))!;
        }

        public void Dispose()
        {
            if (!_process.HasExited) _process.Kill();
            _process.Dispose();
        }
    }

    /// <summary>A dashboard page as the server sees it (see <see cref="BenchDashboardCommand"/>).</summary>
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
}
