using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Sd3Mesh.Cli.Tests;

/// <summary>
/// `sd3mesh bench dashboard` as a user runs it (`dotnet sd3mesh.dll`): its pages' child process is the CLI itself
/// (`bench dashboard-pages`), started the same way.
/// </summary>
public sealed class BenchDashboardCommandTests
{
    [Fact]
    public async Task Times_the_job_with_no_page_and_with_the_pages_and_writes_the_rounds_as_json()
    {
        string folder = Directory.CreateTempSubdirectory("sd3mesh-bench-dashboard-").FullName;
        string json = Path.Combine(folder, "bench.json");
        try
        {
            var (code, output) = await CliProcess.RunAsync(["bench", "dashboard", "--pages", "2", "--rounds", "1", "--steps", "2", "--size", "64",
                "--idle-seconds", "1", "--json", json], timeoutSeconds: 240);
            Assert.True(code == 0, output);
            Assert.Contains("model tiny float32 seed 0, cpu:0, 64x64, 2 steps, preview every 1, 2 pages, 1 rounds after 4 warm-up jobs", output);
            Assert.Equal(["no page", "2 pages", "no page", "2 pages"], Regex.Matches(output, @"idle, (no page|2 pages): server CPU [\d.]+ ms per second")
                .Select(m => m.Groups[1].Value));
            Assert.Matches(@"round  1: no page +[\d.]+ ms \([\d.]+ s CPU\), 2 pages +[\d.]+ ms \([\d.]+ s CPU\)", output);
            var noPage = Row(output, "no page");
            var pages = Row(output, "2 pages");
            Assert.Contains($"wrote {json}", output);

            using var report = JsonDocument.Parse(await File.ReadAllTextAsync(json));
            var root = report.RootElement;
            Assert.Equal((2, 1, "cpu:0"), (root.GetProperty("settings").GetProperty("pages").GetInt32(), root.GetProperty("settings").GetProperty("rounds").GetInt32(),
                root.GetProperty("settings").GetProperty("device").GetString()));
            Assert.Equal([0, 2, 0, 2], root.GetProperty("idle").EnumerateArray().Select(i => i.GetProperty("pages").GetInt32()));
            var round = Assert.Single(root.GetProperty("rounds").EnumerateArray().ToArray());
            double noPageMs = round.GetProperty("no_page_ms").GetDouble(), pagesMs = round.GetProperty("pages_ms").GetDouble();
            // Both arms ran a whole job: tens of milliseconds at least, and the server did work for it.
            Assert.InRange(noPageMs, 1, 60_000);
            Assert.InRange(pagesMs, 1, 60_000);
            Assert.True(round.GetProperty("no_page_cpu_seconds").GetDouble() > 0);
            Assert.True(round.GetProperty("pages_cpu_seconds").GetDouble() > 0);

            // One round: its jobs are the medians and the best, in the table as in the JSON.
            var summary = root.GetProperty("summary");
            Assert.Equal(noPageMs, summary.GetProperty("no_page").GetProperty("job_median_ms").GetDouble());
            Assert.Equal(noPageMs, summary.GetProperty("no_page").GetProperty("job_best_ms").GetDouble());
            Assert.Equal(pagesMs, summary.GetProperty("with_pages").GetProperty("job_median_ms").GetDouble());
            Assert.Equal(pagesMs / noPageMs, summary.GetProperty("job_median_ratio").GetDouble(), 1e-12);
            Assert.Equal(pagesMs / noPageMs, summary.GetProperty("round_ratio_median").GetDouble(), 1e-12);
            Assert.Equal(noPageMs, noPage.MedianMs, 0.051);
            Assert.Equal(noPageMs, noPage.BestMs, 0.051);
            Assert.Equal(pagesMs, pages.MedianMs, 0.051);
            Assert.Equal(round.GetProperty("no_page_cpu_seconds").GetDouble(), noPage.CpuSeconds, 0.00051);

            // The pages followed the job: its events (two step previews, the end), the previews' and the result's images.
            Assert.InRange(summary.GetProperty("events_per_page_job").GetDouble(), 2, 1000);
            Assert.InRange(summary.GetProperty("fetches_per_page_job").GetDouble(), 1, 1000);
            Assert.True(summary.GetProperty("kib_per_page_job").GetDouble() > 0);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData("--pages must be between 1 and 1000, got 0", "--pages", "0")]
    [InlineData("--rounds must be at least 1, got 0", "--rounds", "0")]
    [InlineData("--size: 60 is not a multiple of 16", "--size", "60")]
    [InlineData("--preview: 3 is outside the allowed range 0..2", "--steps", "2", "--preview", "3")]
    [InlineData("--models: /no/such/models is missing", "--models", "/no/such/models")]
    public async Task Refuses_bad_settings_naming_the_option_before_starting_anything(string message, params string[] options)
    {
        var (code, output) = await CliProcess.RunAsync(["bench", "dashboard", .. options]);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.StartsWith("error: " + message, output.Trim());
    }

    /// <summary>A row of the Markdown table: job median and best (ms), server CPU per job (s).</summary>
    private static (double MedianMs, double BestMs, double CpuSeconds) Row(string output, string arm)
    {
        var m = Regex.Match(output, $@"^\| {arm} \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", RegexOptions.Multiline);
        Assert.True(m.Success, $"no table row '{arm}' in:\n{output}");
        double At(int i) => double.Parse(m.Groups[i].Value, CultureInfo.InvariantCulture);
        return (At(1), At(2), At(3));
    }
}
