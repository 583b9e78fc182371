using System.CommandLine;
using System.Globalization;
using Sd3Mesh.Models;
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
/// pipeline's own overhead (time outside ONNX Runtime's Run) as a fraction of the total. Sessions are
/// created and warmed up first; the prompt cache is off so every run encodes. With --decode-only it times
/// the VAE decode of random latents (tiled or not) and reports the process's peak memory.
/// Without --models it creates (once) and uses the seeded preset models of --preset/--precision.
/// </summary>
public static class BenchPipelineCommand
{
    public sealed record Settings(string? Models, string Preset, string Precision, string Device, int Width, int Height, int Steps,
        double Guidance, CfgMode Cfg, int Runs, int Warmup, bool NoT5, bool DecodeOnly, VaeTiling Tiling, int Threads);

    public static Command Create()
    {
        var models = new Option<DirectoryInfo?>("--models") { Description = "SD3 ONNX model folder; default: seeded models of --preset, created once in the cache" };
        var preset = new Option<string>("--preset") { Description = "tiny or medium (used without --models)", DefaultValueFactory = _ => "tiny" };
        var precision = new Option<string>("--precision") { Description = "fp32 or fp16 (used without --models)", DefaultValueFactory = _ => "fp32" };
        var device = new Option<string>("--device") { Description = "cpu, webgpu:N, cuda:N", DefaultValueFactory = _ => "cpu" };
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

        var command = new Command("pipeline", "End-to-end SD3 job time per stage and the pipeline's overhead outside ONNX Runtime");
        foreach (var o in new Option[] { models, preset, precision, device, width, height, steps, guidance, cfg, runs, warmup, noT5, decodeOnly, tiling, threads })
            command.Options.Add(o);
        command.SetAction((parse, ct) => RunAsync(AnsiConsole.Console, new Settings(parse.GetValue(models)?.FullName, parse.GetValue(preset)!,
            parse.GetValue(precision)!, parse.GetValue(device)!, parse.GetValue(width), parse.GetValue(height), parse.GetValue(steps),
            parse.GetValue(guidance), parse.GetValue(cfg), parse.GetValue(runs), parse.GetValue(warmup), parse.GetValue(noT5),
            parse.GetValue(decodeOnly), parse.GetValue(tiling), parse.GetValue(threads)), ct));
        return command;
    }

    public static async Task<int> RunAsync(IAnsiConsole console, Settings s, CancellationToken ct = default)
    {
        if (s.Runs < 1 || s.Warmup < 0)
        {
            console.MarkupLine("[red]error:[/] --runs must be at least 1 and --warmup at least 0");
            return 2;
        }
        string directory;
        try
        {
            directory = s.Models ?? GenerateCommand.EnsureDefaultModels(console, s.Preset, Precision.Parse(s.Precision), GenerateCommand.DefaultWeightSeed);
        }
        catch (FormatException e)
        {
            console.MarkupLine($"[red]error:[/] {Markup.Escape(e.Message)}");
            return 2;
        }
        using var model = OnnxSd3Model.Open(directory, s.Device, s.Threads);
        var c = CultureInfo.InvariantCulture;
        console.MarkupLine(Markup.Escape($"{model.Components.ModelName} ({directory}) on {s.Device}: {s.Width}x{s.Height}, {s.Steps} steps, " +
                                         $"guidance {s.Guidance.ToString(c)} ({s.Cfg.ToString().ToLowerInvariant()}), {s.Warmup} warm-up + {s.Runs} timed runs, " +
                                         $"{Environment.ProcessorCount} CPU cores, {DateTime.UtcNow:yyyy-MM-dd}"));
        return s.DecodeOnly ? await DecodeOnlyAsync(console, model, s, ct) : await FullAsync(console, model, s, ct);
    }

    private static async Task<int> FullAsync(IAnsiConsole console, OnnxSd3Model model, Settings s, CancellationToken ct)
    {
        var pipeline = new Sd3Pipeline(model.Components, new Sd3PipelineOptions { CacheEntries = 0, VaeTiling = s.Tiling });
        var request = new GenerationRequest
        {
            Prompt = "a photo of a cat holding a sign that says hello world",
            NegativePrompt = "blurry, low quality",
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

        var samples = new List<(GenerationResult Result, Dictionary<string, TimeSpan> Run)>();
        for (int i = 0; i < s.Warmup + s.Runs; i++)
        {
            model.Clock.Reset();
            var result = await pipeline.GenerateAsync(request with { Seeds = [(ulong)i] }, cancellationToken: ct);
            if (i < s.Warmup) continue;
            if (model.Clock.TotalLoad > TimeSpan.Zero)
                console.MarkupLine("[yellow]note:[/] a session was created during a timed run; add --warmup");
            samples.Add((result, Parts.ToDictionary(p => p, p => model.Clock.Run(p))));
            console.MarkupLine(Markup.Escape($"run {i - s.Warmup + 1}/{s.Runs}: {result.Total.TotalMilliseconds:F1} ms"));
        }

        double Mean(Func<(GenerationResult Result, Dictionary<string, TimeSpan> Run), TimeSpan> f) => samples.Average(x => f(x).TotalMilliseconds);
        double total = Mean(x => x.Result.Total);
        var table = new Table().AddColumns("stage", "mean ms", "share", "in ORT Run", "calls/run");
        var c = CultureInfo.InvariantCulture;
        void Row(string name, double ms, double? run, int calls) => table.AddRow(Markup.Escape(name), ms.ToString("F1", c),
            (ms / total).ToString("P1", c), run is { } r ? r.ToString("F1", c) : "", calls == 0 ? "" : calls.ToString(c));
        var first = samples[0].Result.Timings;

        Row("tokenize", Mean(x => x.Result.Timings["tokenize"]), null, first.Calls("tokenize"));
        double encode = 0, encodeRun = 0;
        foreach (var part in new[] { StageNames.TextEncoder, StageNames.TextEncoder2, StageNames.TextEncoder3 })
        {
            double ms = Mean(x => x.Result.Timings[part]), run = Mean(x => x.Run[part]);
            encode += ms;
            encodeRun += run;
            Row("  " + part, ms, run, first.Calls(part));
        }
        Row("encode (all)", encode, encodeRun, 0);
        double denoise = Mean(x => x.Result.Timings["stage:" + PipelineStage.Denoise]);
        double transformerRun = Mean(x => x.Run[StageNames.Transformer]);
        Row($"denoise ({s.Steps} steps)", denoise, transformerRun, first.Calls(StageNames.Transformer));
        Row("  per step", denoise / s.Steps, transformerRun / s.Steps, 0);
        double decode = Mean(x => x.Result.Timings["stage:" + PipelineStage.Decode]);
        Row("decode (vae)", decode, Mean(x => x.Run[StageNames.VaeDecoder]), first.Calls(StageNames.VaeDecoder));
        Row("postprocess", Mean(x => x.Result.Timings["stage:" + PipelineStage.Postprocess]), null, 0);
        double ortRun = Mean(x => TimeSpan.FromTicks(x.Run.Values.Sum(t => t.Ticks)));
        Row("outside ORT Run", total - ortRun, null, 0);
        Row("total", total, ortRun, 0);
        console.Write(table);
        console.MarkupLine(Markup.Escape($"overhead fraction: {((total - ortRun) / total).ToString("P2", c)} of the job; peak resident memory {PeakResidentMiB():F0} MiB"));
        return 0;
    }

    private static readonly string[] Parts =
        [StageNames.TextEncoder, StageNames.TextEncoder2, StageNames.TextEncoder3, StageNames.Transformer, StageNames.VaeDecoder, StageNames.VaeEncoder];

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
