using System.Text.Json;
using Sd3Mesh.Cli.Commands;

namespace Sd3Mesh.Cli.Tests;

public sealed class BenchClusterCommandTests
{
    private static BenchClusterCommand.Settings Tiny => new(null, "tiny", "fp32", "cpu:0", 64, 64, Steps: 2, Guidance: 5, Runs: 2, Warmup: 0)
    {
        Jobs = 2,
        InFlight = 2,
        Threads = 1,
    };

    [Fact]
    public async Task Times_the_same_jobs_on_both_paths_and_queued_jobs_on_both_layouts_and_writes_them_as_json()
    {
        var (console, output) = CapturedConsole.Create(240);
        string json = Path.Combine(Directory.CreateTempSubdirectory("sd3mesh-bench-cluster-").FullName, "bench.json");
        try
        {
            Assert.Equal(0, await BenchClusterCommand.RunAsync(console, Tiny with { Json = json }));
            string text = output.ToString();
            Assert.Matches(@"│ one process \(Sd3Pipeline\)\s+│ [\d.]+\s+│ [\d.]+\s+│ [\d.]+\s+│ [\d.]+\s+│", text);
            Assert.Matches(@"│ one-silo cluster \(coordinator \+ transformer grain\)\s+│ [\d.]+\s+│ [\d.]+\s+│", text);
            // The grain runtime ran the very job the pipeline ran: the same PNG, byte for byte.
            Assert.Contains("same PNG on both paths in 2 of 2 jobs", text);
            Assert.Matches(@"│ all on cpu:0\s+│ cpu:0: text_encoder text_encoder_2 text_encoder_3 transformer vae\s+│ [\d.]+\s+│ [\d.]+\s+│ 1\.00\s+│", text);
            Assert.Matches(@"│ cpu:0 \+ cpu:1\s+│ cpu:1: text_encoder text_encoder_2 text_encoder_3, cpu:0: transformer vae\s+│", text);

            using var report = JsonDocument.Parse(await File.ReadAllTextAsync(json));
            var root = report.RootElement;
            Assert.Equal(("tiny-fp32-seed0", 2), (root.GetProperty("model").GetString(), root.GetProperty("settings").GetProperty("steps").GetInt32()));
            var runs = root.GetProperty("overhead_runs").EnumerateArray().ToArray();
            Assert.Equal([1, 2], runs.Select(r => r.GetProperty("run").GetInt32()));
            Assert.All(runs, r => Assert.True(r.GetProperty("same_png").GetBoolean()));
            Assert.All(runs, r => Assert.True(r.GetProperty("cluster").GetProperty("step_ms").GetDouble() > 0));
            var overhead = root.GetProperty("overhead");
            Assert.Equal(overhead.GetProperty("cluster").GetProperty("step_ms").GetDouble() / overhead.GetProperty("local").GetProperty("step_ms").GetDouble(),
                overhead.GetProperty("step_ratio").GetDouble(), 1e-12);
            var layouts = root.GetProperty("throughput").EnumerateArray().ToArray();
            Assert.Equal(["all on cpu:0", "cpu:0 + cpu:1"], layouts.Select(l => l.GetProperty("layout").GetString()));
            Assert.All(layouts, l => Assert.Equal((2, 2), (l.GetProperty("jobs").GetInt32(), l.GetProperty("in_flight").GetInt32())));
            Assert.Equal(layouts[1].GetProperty("jobs_per_minute").GetDouble() / layouts[0].GetProperty("jobs_per_minute").GetDouble(),
                root.GetProperty("throughput_ratio").GetDouble(), 1e-12);
            Assert.Equal(60 * 2 / layouts[0].GetProperty("wall_seconds").GetDouble(), layouts[0].GetProperty("jobs_per_minute").GetDouble(), 1e-9);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(json)!, recursive: true);
        }
    }

    [Theory]
    [InlineData("split", "vae2", "--split: unknown submodule 'vae2'; expected text_encoder, text_encoder_2, text_encoder_3, transformer, vae")]
    [InlineData("second", "cpu:0", "--second-device must differ from --device (cpu:0)")]
    [InlineData("second", "tpu:1", "--second-device: unknown device 'tpu:1': expected cpu, cpu:N or cuda:N (N = 0, 1, 2, ...)")]
    [InlineData("jobs", "0", "--jobs must be between 1 and 64, got 0")]
    [InlineData("in-flight", "65", "--in-flight must be between 1 and 64, got 65")]
    [InlineData("width", "60", "--width: 60 is not a multiple of 16")]
    [InlineData("device", "cuda:0", "cuda:0: ONNX Runtime's CUDA execution provider cannot be used: libcuda.so.1")]
    public async Task Refuses_bad_settings_naming_the_option_before_starting_anything(string option, string value, string message)
    {
        var settings = option switch
        {
            "split" => Tiny with { Split = value },
            "second" => Tiny with { SecondDevice = value },
            "jobs" => Tiny with { Jobs = int.Parse(value) },
            "in-flight" => Tiny with { InFlight = int.Parse(value) },
            "width" => Tiny with { Width = int.Parse(value) },
            _ => Tiny with { Device = value },
        };
        var (console, output) = CapturedConsole.Create(400);
        Assert.Equal(ExitCodes.Usage, await BenchClusterCommand.RunAsync(console, settings));
        // The first error line names the option (the tiny models may be prepared first when the model cache is empty: --width needs the model).
        var error = output.ToString().Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.StartsWith("error: " + message, error ?? output.ToString());
    }
}
