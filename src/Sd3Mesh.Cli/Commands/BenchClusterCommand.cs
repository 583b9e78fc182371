using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Server;
using Sd3Mesh.Server.Generation;
using Sd3Mesh.Server.Jobs;
using Spectre.Console;
using Device = Sd3Mesh.Onnx.Device;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh bench cluster`: what the grain runtime costs and what it buys, measured in one run.
/// <list type="bullet">
/// <item>Overhead: the same jobs, in turns, through the one-process <see cref="Sd3Pipeline"/> and through a one-silo
/// cluster in this process on the same device with the same model files (the server's <see cref="ClusterJobExecutor"/>:
/// a coordinator grain driving the transformer grain one step per call, progress relayed to an observer); the
/// denoising time per step of each, from the Denoise stage's start to the last step's event.</item>
/// <item>Throughput: --jobs jobs queued at once on the silo's job scheduler, --in-flight at a time, first with every
/// submodule on --device, then with the --split submodules on --second-device; jobs per minute of each.</item>
/// </list>
/// Every job has a prompt of its own (the coordinators' prompt cache would skip the encoders of a repeated one).
/// </summary>
public static class BenchClusterCommand
{
    public enum Part { All, Overhead, Throughput }

    public const string DefaultSplit = "text_encoder,text_encoder_2,text_encoder_3";

    public sealed record Settings(string? Models, string Preset, string Precision, string Device, int Width, int Height, int Steps,
        double Guidance, int Runs, int Warmup)
    {
        public Part Part { get; init; } = Part.All;
        /// <summary>The throughput layout's second device (null: the next one of --device's kind).</summary>
        public string? SecondDevice { get; init; }
        /// <summary>The submodules the throughput layout moves to the second device.</summary>
        public string Split { get; init; } = DefaultSplit;
        public int Jobs { get; init; } = 8;
        public int InFlight { get; init; } = 2;
        public int Threads { get; init; }
        public bool Tf32 { get; init; }
        public bool CudaGraph { get; init; }
        /// <summary>Writes the settings, every run and the ratios here.</summary>
        public string? Json { get; init; }
    }

    public static Command Create()
    {
        var models = new BenchModels();
        var device = new Option<string>("--device") { Description = "cpu, cpu:N or cuda:N: the one-silo cluster's and the one-process pipeline's device", DefaultValueFactory = _ => "cpu:0" };
        var second = new Option<string?>("--second-device") { Description = "Throughput: the device the --split submodules move to (default: the next device of --device's kind)" };
        var split = new Option<string>("--split") { Description = "Throughput: submodules on the second device", DefaultValueFactory = _ => DefaultSplit };
        var width = new Option<int>("--width") { DefaultValueFactory = _ => 64 };
        var height = new Option<int>("--height") { DefaultValueFactory = _ => 64 };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 8 };
        var guidance = new Option<double>("--guidance") { DefaultValueFactory = _ => 7.0 };
        var runs = new Option<int>("--runs") { Description = "Overhead: timed jobs on each path", DefaultValueFactory = _ => 5 };
        var warmup = new Option<int>("--warmup") { Description = "Overhead: untimed jobs on each path first", DefaultValueFactory = _ => 1 };
        var jobs = new Option<int>("--jobs") { Description = "Throughput: jobs queued at once on each layout", DefaultValueFactory = _ => 8 };
        var inFlight = new Option<int>("--in-flight") { Description = "Throughput: jobs the silo runs at once (pipelining)", DefaultValueFactory = _ => 2 };
        var part = new Option<Part>("--part") { Description = "all, overhead or throughput", DefaultValueFactory = _ => Part.All };
        var threads = new Option<int>("--threads") { Description = "Intra-op threads per CPU session (0: ONNX Runtime's default)", DefaultValueFactory = _ => 0 };
        var tf32 = new Option<bool>("--tf32") { Description = "Allow TF32 for float32 MatMul/Conv on CUDA" };
        var cudaGraph = new Option<bool>("--cuda-graph") { Description = "Capture the transformer step into CUDA graphs and replay them" };
        var json = new Option<FileInfo?>("--json") { Description = "Also write the settings, every run and the ratios to this JSON file" };

        var command = new Command("cluster", "The grain runtime against the one-process pipeline: per-step overhead, and queued jobs on one device vs two");
        foreach (var o in models.All.Concat([device, second, split, width, height, steps, guidance, runs, warmup, jobs, inFlight, part, threads, tf32,
                     cudaGraph, json]))
            command.Options.Add(o);
        command.SetAction((parse, ct) => RunAsync(AnsiConsole.Console, new Settings(parse.GetValue(models.Models)?.FullName,
            parse.GetValue(models.Preset)!, parse.GetValue(models.Precision)!, parse.GetValue(device)!, parse.GetValue(width), parse.GetValue(height),
            parse.GetValue(steps), parse.GetValue(guidance), parse.GetValue(runs), parse.GetValue(warmup))
        {
            Part = parse.GetValue(part),
            SecondDevice = parse.GetValue(second),
            Split = parse.GetValue(split)!,
            Jobs = parse.GetValue(jobs),
            InFlight = parse.GetValue(inFlight),
            Threads = parse.GetValue(threads),
            Tf32 = parse.GetValue(tf32),
            CudaGraph = parse.GetValue(cudaGraph),
            Json = parse.GetValue(json)?.FullName,
        }, ct));
        return command;
    }

    /// <summary>The settings checked and typed.</summary>
    private sealed record Plan(Device Device, Device Second, IReadOnlyDictionary<PlacedSubmodule, Device> Split, string Directory, OnnxModelOptions Sessions)
    {
        public bool Overhead { get; init; }
        public bool Throughput { get; init; }
    }

    public static async Task<int> RunAsync(IAnsiConsole console, Settings s, CancellationToken ct = default)
    {
        if (Check(console, s) is not { } plan) return ExitCodes.Usage;
        var folder = Sd3ModelFolder.Open(plan.Directory);
        var model = new ModelSpec(folder.Repository.Directory, null);
        var c = CultureInfo.InvariantCulture;
        var job = new GenerateRequest
        {
            Prompt = BenchModels.Prompt, NegativePrompt = BenchModels.NegativePrompt, Width = (uint)s.Width, Height = (uint)s.Height,
            Steps = (uint)s.Steps, GuidanceScale = (float)s.Guidance,
        };
        // The server's mapping and validation: both paths run the very GenerationRequest a served job would.
        (GenerationSpec Spec, GenerateRequest Request) Job(string tag, int seed)
        {
            var request = job.Clone();
            request.Prompt = $"{BenchModels.Prompt}, {tag} {seed}";
            request.Seed = (ulong)seed;
            return (GenerateRequests.ToSpec(request, folder.Model), request);
        }
        try
        {
            _ = Job("check", 0);
        }
        catch (InvalidGenerationRequestException e)
        {
            foreach (var error in e.Errors) console.MarkupLine($"[red]error:[/] {Markup.Escape($"--{error.Field.Replace('_', '-')}: {error.Message}")}");
            return ExitCodes.Usage;
        }

        console.MarkupLine(Markup.Escape($"{folder.Name} ({plan.Directory}): {s.Width}x{s.Height}, {s.Steps} steps, guidance {s.Guidance.ToString(c)}, " +
                                         $"{Environment.ProcessorCount} CPU cores, ONNX Runtime {OrtRuntime.Version}, {DateTime.UtcNow:yyyy-MM-dd}"));
        var tasks = new List<(string Name, int Steps)>();
        if (plan.Overhead) tasks.Add(($"overhead: {s.Warmup} warm-up + {s.Runs} jobs on {plan.Device}, one process and one-silo cluster in turns", 2 * (s.Warmup + s.Runs)));
        var layouts = new List<(string Name, IReadOnlyDictionary<PlacedSubmodule, Device> Elsewhere)>();
        if (plan.Throughput)
        {
            layouts.Add(($"all on {plan.Device}", new Dictionary<PlacedSubmodule, Device>()));
            layouts.Add(($"{plan.Device} + {plan.Second}", plan.Split));
            tasks.AddRange(layouts.Select(l => ($"throughput: 1 warm-up + {s.Jobs} queued jobs, {l.Name}", 1 + s.Jobs)));
        }

        List<ClusterBench.OverheadRun> overhead = [];
        var throughput = new List<ClusterBench.ThroughputRun>();
        await ConsoleProgress.RunAsync(console, tasks, async (i, step) =>
        {
            if (plan.Overhead && i == 0)
            {
                overhead = await ClusterBench.OverheadAsync(folder, EmbeddedCluster.Config(model, plan.Device), plan.Sessions,
                    run => Job("run", run).Spec, s.Warmup, s.Runs, step, ct);
                return;
            }
            var (name, elsewhere) = layouts[plan.Overhead ? i - 1 : i];
            var config = EmbeddedCluster.Config(model, plan.Device, maxJobsInFlight: s.InFlight, elsewhere: elsewhere);
            throughput.Add(await ClusterBench.ThroughputAsync(folder, config, plan.Sessions, name, Describe(config), j => Job(name, j), s.Jobs, step, ct));
        });

        if (overhead.Count > 0) OverheadTable(console, overhead, plan.Device);
        if (throughput.Count > 0) ThroughputTable(console, throughput);
        if (s.Json is not null)
        {
            await File.WriteAllTextAsync(s.Json, JsonSerializer.Serialize(new Report(s, folder.Name, Environment.ProcessorCount, OrtRuntime.Version,
                DateTime.UtcNow, overhead, overhead.Count == 0 ? null : Summary.Of(overhead), throughput,
                throughput.Count == 2 ? throughput[1].JobsPerMinute / throughput[0].JobsPerMinute : null), JsonOptions), ct);
            console.MarkupLine(Markup.Escape($"wrote {s.Json}"));
        }
        return ExitCodes.Ok;
    }

    private static Plan? Check(IAnsiConsole console, Settings s)
    {
        string? error = null;
        void Fail(string message) => error ??= message;
        if (s.Runs < 1) Fail($"--runs must be at least 1, got {s.Runs}");
        if (s.Warmup < 0) Fail($"--warmup must be at least 0, got {s.Warmup}");
        if (s.Jobs is < 1 or > 64) Fail($"--jobs must be between 1 and 64, got {s.Jobs}");
        if (s.InFlight is < 1 or > 64) Fail($"--in-flight must be between 1 and 64, got {s.InFlight}");
        if (!Enum.IsDefined(s.Part)) Fail($"--part must be all, overhead or throughput");
        Device device = default, second = default;
        var split = new Dictionary<PlacedSubmodule, Device>();
        if (!Device.TryParse(s.Device, out device)) Fail($"--device: unknown device '{s.Device}': expected {Device.AcceptedForms}");
        else if (s.SecondDevice is null) second = device with { Index = device.Index + 1 };
        else if (!Device.TryParse(s.SecondDevice, out second)) Fail($"--second-device: unknown device '{s.SecondDevice}': expected {Device.AcceptedForms}");
        if (error is null && second == device) Fail($"--second-device must differ from --device ({device})");
        foreach (var name in s.Split.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!PlacedSubmodules.TryParse(name, out var submodule))
                Fail($"--split: unknown submodule '{name}'; expected {string.Join(", ", PlacedSubmodules.All.Select(p => p.Name()))}");
            else split[submodule] = second;
        }
        if (split.Count == 0) Fail("--split names no submodule");
        bool overhead = s.Part is Part.All or Part.Overhead, throughput = s.Part is Part.All or Part.Throughput;
        string directory = "";
        if (error is null)
        {
            try
            {
                CudaSupport.EnsureUsable(device);
                if (throughput) CudaSupport.EnsureUsable(second);
                directory = BenchModels.Folder(console, s.Models, s.Preset, s.Precision);
            }
            catch (Exception e) when (e is FormatException or DeviceUnavailableException)
            {
                Fail(e.Message);
            }
        }
        if (error is not null)
        {
            console.MarkupLine($"[red]error:[/] {Markup.Escape(error)}");
            return null;
        }
        var sessions = new OnnxModelOptions { IntraOpThreads = s.Threads, Tf32 = s.Tf32, CudaGraph = s.CudaGraph };
        return new Plan(device, second, split, directory, sessions) { Overhead = overhead, Throughput = throughput };
    }

    private static string Describe(ClusterConfig config) => string.Join(", ",
        config.Placement.GroupBy(p => p.Value[0]).Select(g => $"{g.Key}: {string.Join(" ", g.Select(p => p.Key.Name()))}"));

    /// <summary>One path over the timed runs: medians (and the fastest run's denoising time per step).</summary>
    internal sealed record PathSummary(double JobMs, double StepMs, double MinStepMs, double StepCpuMs)
    {
        public static PathSummary Of(IEnumerable<ClusterBench.JobTiming> runs) => new(Median(runs.Select(r => r.JobMs)),
            Median(runs.Select(r => r.StepMs)), runs.Min(r => r.StepMs), Median(runs.Select(r => r.StepCpuMs)));
    }

    /// <summary>Both paths, and the cluster's per-step times over the one process's: of the medians, of the fastest runs, of CPU time.</summary>
    internal sealed record Summary(PathSummary Local, PathSummary Cluster, int SamePng)
    {
        public double StepRatio => Cluster.StepMs / Local.StepMs;
        public double MinStepRatio => Cluster.MinStepMs / Local.MinStepMs;
        public double CpuRatio => Cluster.StepCpuMs / Local.StepCpuMs;

        public static Summary Of(IReadOnlyList<ClusterBench.OverheadRun> runs) =>
            new(PathSummary.Of(runs.Select(r => r.Local)), PathSummary.Of(runs.Select(r => r.Cluster)), runs.Count(r => r.SamePng));
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static void OverheadTable(IAnsiConsole console, IReadOnlyList<ClusterBench.OverheadRun> runs, Device device)
    {
        var c = CultureInfo.InvariantCulture;
        var m = Summary.Of(runs);
        var table = new Table().Title(Markup.Escape($"The same {runs.Count} jobs on {device}, in turns (medians; min: the fastest job)"))
            .AddColumns("path", "job ms", "denoise ms/step", "min ms/step", "CPU ms/step");
        void Row(string path, PathSummary p) => table.AddRow(path, p.JobMs.ToString("F1", c), p.StepMs.ToString("F3", c), p.MinStepMs.ToString("F3", c),
            p.StepCpuMs.ToString("F3", c));
        Row("one process (Sd3Pipeline)", m.Local);
        Row("one-silo cluster (coordinator + transformer grain)", m.Cluster);
        table.AddRow("cluster / one process", "", m.StepRatio.ToString("F3", c), m.MinStepRatio.ToString("F3", c), m.CpuRatio.ToString("F3", c));
        console.Write(table);
        console.MarkupLine(Markup.Escape($"grain runtime overhead per step: {(m.Cluster.StepMs - m.Local.StepMs).ToString("+0.000;-0.000", c)} ms " +
                                         $"({((m.StepRatio - 1) * 100).ToString("+0.0;-0.0", c)} % of the median; goal < 2 %); " +
                                         $"same PNG on both paths in {m.SamePng} of {runs.Count} jobs"));
    }

    private static void ThroughputTable(IAnsiConsole console, IReadOnlyList<ClusterBench.ThroughputRun> runs)
    {
        var c = CultureInfo.InvariantCulture;
        var table = new Table().Title(Markup.Escape($"{runs[0].Jobs} jobs queued at once, {runs[0].InFlight} in flight"))
            .AddColumns("layout", "placement", "wall s", "jobs/min", "x first layout");
        foreach (var r in runs)
            table.AddRow(Markup.Escape(r.Layout), Markup.Escape(r.Placement), r.WallSeconds.ToString("F2", c), r.JobsPerMinute.ToString("F1", c),
                (r.JobsPerMinute / runs[0].JobsPerMinute).ToString("F2", c));
        console.Write(table);
    }

    private sealed record Report(Settings Settings, string Model, int CpuCores, string OnnxRuntime, DateTime Date,
        IReadOnlyList<ClusterBench.OverheadRun> OverheadRuns, Summary? Overhead, IReadOnlyList<ClusterBench.ThroughputRun> Throughput,
        double? ThroughputRatio);

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };
}
