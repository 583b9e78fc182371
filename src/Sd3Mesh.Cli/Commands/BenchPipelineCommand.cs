using System.CommandLine;
using System.Globalization;
using Sd3Mesh.Models;
using Sd3Mesh.Onnx;
using Sd3Mesh.Onnx.Diagnostics;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Guidance;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Pipeline.Vae;
using Sd3Mesh.Tensors;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh bench pipeline`: end-to-end SD3 job time split into tokenize / encode / denoise / decode, and the
/// pipeline's own overhead (time outside ONNX Runtime's Run) as a fraction of the total. Sessions are created and
/// warmed up first; the prompt cache is off so every run encodes. With --placement the submodules go to several
/// devices, and --compare-placement runs the same jobs on a second placement in the same process, in turns, to show
/// how much the stages on different devices overlap. --profile writes ONNX Runtime's profiles (per-node times) and
/// prints a summary per operator type. With --decode-only it times the VAE decode of random latents (tiled or not)
/// and reports the process's peak memory. Without --models it creates (once) and uses the seeded preset models.
/// </summary>
public static class BenchPipelineCommand
{
    public sealed record Settings(string? Models, string Preset, string Precision, string Device, int Width, int Height, int Steps,
        double Guidance, CfgMode Cfg, int Runs, int Warmup, bool NoT5, bool DecodeOnly, VaeTiling Tiling, int Threads)
    {
        /// <summary>Per-submodule devices on top of --device ("text_encoder=cpu:1,transformer_uncond=cpu:2").</summary>
        public string? Placement { get; init; }
        /// <summary>A second placement timed in the same process, in turns with the first.</summary>
        public string? ComparePlacement { get; init; }
        public bool Tf32 { get; init; }
        public bool CudaGraph { get; init; }
        public bool SharedArena { get; init; }
        public DenoiseResidency Residency { get; init; } = DenoiseResidency.Auto;
        /// <summary>Folder for ONNX Runtime's profiles; a summary per op type is printed.</summary>
        public string? Profile { get; init; }
    }

    public static Command Create()
    {
        var modelOptions = new BenchModels();
        var device = new Option<string>("--device") { Description = "cpu, cpu:N, cuda:N (every submodule not placed by --placement)", DefaultValueFactory = _ => "cpu" };
        var placement = new Option<string?>("--placement") { Description = "Per-submodule devices, e.g. text_encoder=cpu:1,text_encoder_3=cpu:2,transformer_uncond=cuda:1" };
        var compare = new Option<string?>("--compare-placement") { Description = "Time a second placement (same syntax, on top of --device) in turns with the first" };
        var width = new Option<int>("--width") { DefaultValueFactory = _ => 64 };
        var height = new Option<int>("--height") { DefaultValueFactory = _ => 64 };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 4 };
        var guidance = new Option<double>("--guidance") { DefaultValueFactory = _ => 7.0 };
        var cfg = new Option<CfgMode>("--cfg") { Description = "batched or split guidance passes", DefaultValueFactory = _ => CfgMode.Batched };
        var runs = new Option<int>("--runs") { Description = "Timed jobs", DefaultValueFactory = _ => 3 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed jobs first (session creation, first-run allocation)", DefaultValueFactory = _ => 1 };
        var noT5 = new Option<bool>("--no-t5") { Description = "Leave T5 out" };
        var decodeOnly = new Option<bool>("--decode-only") { Description = "Time only the VAE decode of random latents and report peak memory" };
        var tiling = new Option<VaeTiling>("--vae-tiling") { Description = "auto (tile above the VAE sample size) or off", DefaultValueFactory = _ => VaeTiling.Auto };
        var threads = new Option<int>("--threads") { Description = "Intra-op threads per CPU session (0: ONNX Runtime's default)", DefaultValueFactory = _ => 0 };
        var tf32 = new Option<bool>("--tf32") { Description = "Allow TF32 for float32 MatMul/Conv on CUDA (default: exact float32)" };
        var cudaGraph = new Option<bool>("--cuda-graph") { Description = "Capture the transformer step into CUDA graphs and replay them" };
        var sharedArena = new Option<bool>("--shared-arena") { Description = "CUDA: the sessions on a GPU share one memory arena" };
        var residency = new Option<DenoiseResidency>("--residency")
        {
            Description = "Where denoising keeps latents and embeddings: auto (the GPU on CUDA), device, host",
            DefaultValueFactory = _ => DenoiseResidency.Auto,
        };
        var profile = new Option<DirectoryInfo?>("--profile") { Description = "Write ONNX Runtime's profiles (per-node times) here and print a summary per op type" };

        var command = new Command("pipeline", "End-to-end SD3 job time per stage and the pipeline's overhead outside ONNX Runtime");
        foreach (var o in modelOptions.All.Concat([device, placement, compare, width, height, steps, guidance, cfg, runs, warmup, noT5,
                     decodeOnly, tiling, threads, tf32, cudaGraph, sharedArena, residency, profile]))
            command.Options.Add(o);
        command.SetAction((parse, ct) => RunAsync(AnsiConsole.Console, new Settings(parse.GetValue(modelOptions.Models)?.FullName, parse.GetValue(modelOptions.Preset)!,
            parse.GetValue(modelOptions.Precision)!, parse.GetValue(device)!, parse.GetValue(width), parse.GetValue(height), parse.GetValue(steps),
            parse.GetValue(guidance), parse.GetValue(cfg), parse.GetValue(runs), parse.GetValue(warmup), parse.GetValue(noT5),
            parse.GetValue(decodeOnly), parse.GetValue(tiling), parse.GetValue(threads))
        {
            Placement = parse.GetValue(placement),
            ComparePlacement = parse.GetValue(compare),
            Tf32 = parse.GetValue(tf32),
            CudaGraph = parse.GetValue(cudaGraph),
            SharedArena = parse.GetValue(sharedArena),
            Residency = parse.GetValue(residency),
            Profile = parse.GetValue(profile)?.FullName,
        }, ct));
        return command;
    }

    public static async Task<int> RunAsync(IAnsiConsole console, Settings s, CancellationToken ct = default)
    {
        if (s.Runs < 1 || s.Warmup < 0)
        {
            console.MarkupLine("[red]error:[/] --runs must be at least 1 and --warmup at least 0");
            return 2;
        }
        DevicePlacement placement, compare;
        string directory;
        try
        {
            var device = Device.Parse(s.Device);
            placement = DevicePlacement.Parse(s.Placement, device);
            compare = DevicePlacement.Parse(s.ComparePlacement, device);
            foreach (var d in placement.Devices.Concat(s.ComparePlacement is null ? [] : compare.Devices)) CudaSupport.EnsureUsable(d);
            directory = BenchModels.Folder(console, s.Models, s.Preset, s.Precision);
        }
        catch (Exception e) when (e is FormatException or DeviceUnavailableException)
        {
            console.MarkupLine($"[red]error:[/] {Markup.Escape(e.Message)}");
            return 2;
        }
        if (s.Profile is not null) Directory.CreateDirectory(s.Profile);
        var options = new OnnxModelOptions
        {
            IntraOpThreads = s.Threads,
            Tf32 = s.Tf32,
            CudaGraph = s.CudaGraph,
            SharedArena = s.SharedArena,
            Residency = s.Residency,
            ProfileDirectory = s.Profile,
        };
        using var model = OnnxSd3Model.Open(directory, placement, options);
        using var second = s.ComparePlacement is null ? null : OnnxSd3Model.Open(directory, compare, options with { ProfileDirectory = null });
        var c = CultureInfo.InvariantCulture;
        console.MarkupLine(Markup.Escape($"{model.Components.ModelName} ({directory}) on {placement}: {s.Width}x{s.Height}, {s.Steps} steps, " +
                                         $"guidance {s.Guidance.ToString(c)} ({s.Cfg.ToString().ToLowerInvariant()}), {s.Warmup} warm-up + {s.Runs} timed runs, " +
                                         $"{Environment.ProcessorCount} CPU cores, ONNX Runtime {OrtRuntime.Version}, denoising on the " +
                                         $"{(model.ResidentDenoising ? "device" : "host")}, float32 math {(s.Tf32 ? "TF32 on CUDA" : "exact (transformer and VAE fed float16: TF32 allowed)")}" +
                                         $"{(s.CudaGraph ? ", CUDA graph" : "")}{(s.SharedArena ? ", shared arena" : "")}, {DateTime.UtcNow:yyyy-MM-dd}"));
        int rc = s.DecodeOnly ? await DecodeOnlyAsync(console, model, s, ct) : await FullAsync(console, model, second, compare, s, ct);
        if (s.Profile is not null) PrintProfiles(console, model);
        return rc;
    }

    private sealed record Sample(GenerationResult Result, Dictionary<string, TimeSpan> Run);

    private static async Task<int> FullAsync(IAnsiConsole console, OnnxSd3Model model, OnnxSd3Model? second, DevicePlacement compare, Settings s,
        CancellationToken ct)
    {
        var request = new GenerationRequest
        {
            Prompt = BenchModels.Prompt,
            NegativePrompt = BenchModels.NegativePrompt,
            Width = s.Width,
            Height = s.Height,
            Steps = s.Steps,
            GuidanceScale = s.Guidance,
            CfgMode = s.Cfg,
            UseT5 = !s.NoT5,
        };
        var errors = request.Validate(model.Components.Model);
        if (errors.Count > 0)
        {
            foreach (var e in errors) console.MarkupLine($"[red]error:[/] {Markup.Escape(GenerateOptions.Describe(e))}");
            return 2;
        }

        var models = second is null ? [model] : new[] { model, second };
        var pipelines = models.Select(m => new Sd3Pipeline(m.Components, new Sd3PipelineOptions { CacheEntries = 0, VaeTiling = s.Tiling })).ToArray();
        var samples = models.Select(_ => new List<Sample>()).ToArray();
        for (int i = 0; i < s.Warmup + s.Runs; i++)
            for (int m = 0; m < models.Length; m++) // in turns, so both placements see the same machine load
            {
                models[m].Clock.Reset();
                var result = await pipelines[m].GenerateAsync(request with { Seeds = [(ulong)i] }, cancellationToken: ct);
                if (i < s.Warmup) continue;
                if (models[m].Clock.TotalLoad > TimeSpan.Zero)
                    console.MarkupLine("[yellow]note:[/] a session was created during a timed run; add --warmup");
                samples[m].Add(new Sample(result, Parts.ToDictionary(p => p, p => models[m].Clock.Run(p))));
                console.MarkupLine(Markup.Escape($"run {i - s.Warmup + 1}/{s.Runs}{(models.Length > 1 ? $" ({models[m].Placement})" : "")}: " +
                                                 $"{result.Total.TotalMilliseconds:F1} ms"));
            }

        for (int m = 0; m < models.Length; m++) StageTable(console, models[m], samples[m], s);
        if (second is not null) CompareTable(console, model.Placement, compare, samples[0], samples[1]);
        console.MarkupLine(Markup.Escape($"peak resident memory {PeakResidentMiB():F0} MiB"));
        return 0;
    }

    private static double Mean(List<Sample> samples, Func<Sample, TimeSpan> f) => samples.Average(x => f(x).TotalMilliseconds);

    private static double Stage(List<Sample> samples, PipelineStage stage) => Mean(samples, x => x.Result.Timings["stage:" + stage]);

    private static void StageTable(IAnsiConsole console, OnnxSd3Model model, List<Sample> samples, Settings s)
    {
        double total = Mean(samples, x => x.Result.Total);
        var table = new Table().Title(Markup.Escape($"placement {model.Placement}")).AddColumns("stage", "mean ms", "share", "in ORT Run", "calls/run");
        var c = CultureInfo.InvariantCulture;
        void Row(string name, double ms, double? run, int calls) => table.AddRow(Markup.Escape(name), ms.ToString("F1", c),
            (ms / total).ToString("P1", c), run is { } r ? r.ToString("F1", c) : "", calls == 0 ? "" : calls.ToString(c));
        var first = samples[0].Result.Timings;

        Row("tokenize", Mean(samples, x => x.Result.Timings["tokenize"]), null, first.Calls("tokenize"));
        double encodeRun = 0;
        foreach (var part in new[] { StageNames.TextEncoder, StageNames.TextEncoder2, StageNames.TextEncoder3 })
        {
            double ms = Mean(samples, x => x.Result.Timings[part]), run = Mean(samples, x => x.Run[part]);
            encodeRun += run;
            Row("  " + part, ms, run, first.Calls(part));
        }
        // The stage's wall time: encoders on different devices overlap, so it can be less than their sum.
        Row("encode (stage, wall)", Stage(samples, PipelineStage.EncodePrompt), encodeRun, 0);
        double denoise = Stage(samples, PipelineStage.Denoise);
        double transformerRun = Mean(samples, x => x.Run[StageNames.Transformer] + x.Run[DevicePlacement.UncondTransformerKey]);
        Row($"denoise ({s.Steps} steps)", denoise, transformerRun, first.Calls(StageNames.Transformer));
        Row("  per step", denoise / s.Steps, transformerRun / s.Steps, 0);
        Row("  guidance + Euler step", Mean(samples, x => x.Result.Timings["scheduler"]), null, first.Calls("scheduler"));
        double decode = Stage(samples, PipelineStage.Decode);
        Row("decode (vae)", decode, Mean(samples, x => x.Run[StageNames.VaeDecoder]), first.Calls(StageNames.VaeDecoder));
        Row("postprocess", Stage(samples, PipelineStage.Postprocess), null, 0);
        double ortRun = Mean(samples, x => TimeSpan.FromTicks(x.Run.Values.Sum(t => t.Ticks)));
        bool overlapped = model.Placement.Devices.Count > 1; // time inside Run, summed over devices, can exceed the wall time
        if (!overlapped) Row("outside ORT Run", total - ortRun, null, 0);
        Row("total", total, ortRun, 0);
        console.Write(table);
        console.MarkupLine(Markup.Escape(overlapped
            ? "overhead fraction: not shown: stages on several devices overlap, so time inside Run (summed over devices) says nothing about the rest"
            : $"overhead fraction: {((total - ortRun) / total).ToString("P2", c)} of the job"));
    }

    private static void CompareTable(IAnsiConsole console, DevicePlacement a, DevicePlacement b, List<Sample> sa, List<Sample> sb)
    {
        var c = CultureInfo.InvariantCulture;
        var table = new Table().Title("The two placements, same jobs in turns (mean ms)")
            .AddColumns("stage (wall)", Markup.Escape(a.ToString()), Markup.Escape(b.ToString()), "second / first");
        foreach (var (name, fa, fb) in new (string, double, double)[]
                 {
                     ("encode", Stage(sa, PipelineStage.EncodePrompt), Stage(sb, PipelineStage.EncodePrompt)),
                     ("denoise", Stage(sa, PipelineStage.Denoise), Stage(sb, PipelineStage.Denoise)),
                     ("decode", Stage(sa, PipelineStage.Decode), Stage(sb, PipelineStage.Decode)),
                     ("job", Mean(sa, x => x.Result.Total), Mean(sb, x => x.Result.Total)),
                 })
            table.AddRow(name, fa.ToString("F1", c), fb.ToString("F1", c), (fb / fa).ToString("F2", c));
        console.Write(table);
    }

    private static void PrintProfiles(IAnsiConsole console, OnnxSd3Model model)
    {
        var c = CultureInfo.InvariantCulture;
        foreach (var (submodule, path) in model.EndProfiling())
        {
            var profile = OrtProfile.Read(path);
            var table = new Table().Title(Markup.Escape($"{submodule}: {profile.RunCount} runs, {profile.ModelRuns.TotalMilliseconds:F1} ms in model_run ({path})"))
                .AddColumns("op type", "kernels", "total ms", "share of kernel time", "providers");
            double kernels = profile.KernelTotal.TotalMilliseconds;
            foreach (var op in profile.OpTypes.Take(15))
                table.AddRow(Markup.Escape(op.OpType), op.Calls.ToString(c), op.Total.TotalMilliseconds.ToString("F2", c),
                    (op.Total.TotalMilliseconds / kernels).ToString("P1", c), Markup.Escape(string.Join(", ", op.Providers.Select(p => p.Replace("ExecutionProvider", "")))));
            console.Write(table);
        }
        console.MarkupLine("Per-node times are host times: on CUDA a kernel's entry is its launch (the GPU runs it asynchronously); model_run is the time that counts.");
    }

    private static readonly string[] Parts =
    [
        StageNames.TextEncoder, StageNames.TextEncoder2, StageNames.TextEncoder3, StageNames.Transformer, DevicePlacement.UncondTransformerKey,
        StageNames.VaeDecoder, StageNames.VaeEncoder,
    ];

    private static async Task<int> DecodeOnlyAsync(IAnsiConsole console, OnnxSd3Model model, Settings s, CancellationToken ct)
    {
        var config = model.Components.Model;
        if (s.Width % config.VaeScaleFactor != 0 || s.Height % config.VaeScaleFactor != 0)
        {
            console.MarkupLine($"[red]error:[/] --width and --height must be multiples of {config.VaeScaleFactor}");
            return 2;
        }
        var latents = new float[config.LatentChannels * (s.Height / config.VaeScaleFactor) * (s.Width / config.VaeScaleFactor)];
        SeededRandom.FillNormal(latents, 1);
        var tensor = Tensor.FromArray(latents, 1, config.LatentChannels, s.Height / config.VaeScaleFactor, s.Width / config.VaeScaleFactor);
        var tiled = new TiledVaeDecoder(model.Components.VaeDecoder, config.VaeTileLatentSize, scaleFactor: config.VaeScaleFactor);
        double before = PeakResidentMiB();
        var times = new List<double>();
        for (int i = 0; i < s.Warmup + s.Runs; i++)
        {
            var start = System.Diagnostics.Stopwatch.GetTimestamp();
            _ = s.Tiling == VaeTiling.Off ? await model.Components.VaeDecoder.DecodeAsync(tensor, ct) : await tiled.DecodeAsync(tensor, ct);
            if (i >= s.Warmup) times.Add(System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        var c = CultureInfo.InvariantCulture;
        var table = new Table().AddColumns("decode", "tiles", "mean (ms)", "min (ms)", "peak resident before (MiB)", "peak resident after (MiB)");
        table.AddRow($"{s.Width}x{s.Height} tiling {s.Tiling.ToString().ToLowerInvariant()}", (s.Tiling == VaeTiling.Off ? 1 : tiled.LastTileCount).ToString(c),
            times.Average().ToString("F1", c), times.Min().ToString("F1", c), before.ToString("F0", c), PeakResidentMiB().ToString("F0", c));
        console.Write(table);
        return 0;
    }

    /// <summary>The process's peak resident set (<see cref="BenchModelsCommand.PeakResidentBytes"/>) in MiB; where /proc is unavailable, the current working set.</summary>
    public static double PeakResidentMiB() =>
        (BenchModelsCommand.PeakResidentBytes() is var peak and >= 0 ? peak : Environment.WorkingSet) / 1048576.0;
}
