using System.Globalization;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Imaging;
using Sd3Mesh.Pipeline.IO;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Server.Generation;
using Sd3Mesh.Server.Jobs;
using Sd3Mesh.Tensors;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// A loaded model: the pipeline components, what must be disposed with them (sessions), and the clock of
/// time spent inside ONNX Runtime when the stages are local sessions.
/// </summary>
public sealed record LoadedModel(Sd3Components Components, string Description, IDisposable? Owner = null, OrtRunClock? Clock = null) : IDisposable
{
    public void Dispose() => Owner?.Dispose();
}

/// <summary>
/// The body of `sd3mesh generate` without its model loading: builds the API's request from the options,
/// maps and validates it against the loaded model as a server would (GenerateRequests: one mapping, one
/// validation, one seed plan), runs the pipeline with a progress bar per stage, writes PNGs (or a .npy of
/// latents) and prints a summary of the time spent per submodule. Exit codes (<see cref="ExitCodes"/>):
/// 0 done, 2 invalid options or a device this machine cannot use, 1 failure, 130 interrupted.
/// </summary>
public static class GenerateRunner
{
    public static async Task<int> RunAsync(IAnsiConsole console, GenerateOptions.Values values, Func<LoadedModel> load,
        CancellationToken cancellationToken = default)
    {
        var (wire, errors) = GenerateOptions.ToRequest(values);
        var fileErrors = errors.ToList();
        Tensor? latents = null;
        if (values.Latents is { } latentPath)
        {
            var (loaded, error) = GenerationRequest.LoadLatents(latentPath);
            if (error is not null) fileErrors.Add(error);
            latents = loaded;
        }
        if (fileErrors.Count > 0) return Refuse(console, fileErrors);

        LoadedModel model;
        try
        {
            model = load();
        }
        catch (DeviceUnavailableException e)
        {
            console.MarkupLine($"[red]error:[/] {Markup.Escape(e.Message)}");
            return ExitCodes.Usage;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
        {
            console.MarkupLine($"[red]error:[/] cannot load the models: {Markup.Escape(e.Message)}");
            return e is UnauthorizedAccessException || e.GetType() == typeof(IOException) ? ExitCodes.Failed : ExitCodes.Usage;
        }
        using (model)
        {
            GenerationSpec spec;
            try
            {
                spec = GenerateRequests.ToSpec(wire, model.Components.Model, latents);
            }
            catch (InvalidGenerationRequestException e)
            {
                return Refuse(console, e.Errors);
            }
            var request = spec.Request;
            console.MarkupLine(Markup.Escape($"{model.Description}: {request.Width}x{request.Height}, {request.Steps} steps, guidance {request.GuidanceScale.ToString(CultureInfo.InvariantCulture)}, " +
                                             $"{request.Count} image(s){(request.IsImageToImage ? $", image-to-image strength {request.Strength.ToString(CultureInfo.InvariantCulture)}" : "")}"));

            GenerationResult result;
            try
            {
                var pipeline = new Sd3Pipeline(model.Components);
                result = await RunWithProgressAsync(console, pipeline, request, cancellationToken);
            }
            catch (GenerationRequestException e)
            {
                return Refuse(console, e.Errors);
            }
            catch (DeviceUnavailableException e)
            {
                console.MarkupLine($"[red]error:[/] {Markup.Escape(e.Message)}");
                return ExitCodes.Usage;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                console.MarkupLine("[yellow]interrupted: no files written[/]");
                return ExitCodes.Interrupted;
            }

            foreach (var warning in result.Warnings) console.MarkupLine($"[yellow]warning:[/] {Markup.Escape(warning)}");
            try
            {
                var files = WriteOutputs(values.Out, request, result);
                foreach (var (file, seed) in files) console.MarkupLine(Markup.Escape($"wrote {file} (seed {seed})"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                console.MarkupLine($"[red]error:[/] cannot write to {Markup.Escape(values.Out)}: {Markup.Escape(e.Message)}");
                return ExitCodes.Failed;
            }
            console.Write(Summary(result, model.Clock));
            return ExitCodes.Ok;
        }
    }

    private static int Refuse(IAnsiConsole console, IEnumerable<ValidationError> errors)
    {
        foreach (var error in errors) console.MarkupLine($"[red]error:[/] {Markup.Escape(GenerateOptions.Describe(error))}");
        return ExitCodes.Usage;
    }

    private static async Task<GenerationResult> RunWithProgressAsync(IAnsiConsole console, Sd3Pipeline pipeline, GenerationRequest request,
        CancellationToken ct)
    {
        if (!console.Profile.Capabilities.Interactive)
        {
            return await pipeline.GenerateAsync(request, p =>
            {
                if (p.Kind == ProgressKind.StageCompleted || (p.Kind == ProgressKind.Step && (p.Step == p.TotalSteps || p.Step % 10 == 0)))
                    console.MarkupLine(Markup.Escape(p.ToString()));
            }, ct);
        }

        GenerationResult? result = null;
        await console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var bars = new Dictionary<PipelineStage, ProgressTask>();
                result = await pipeline.GenerateAsync(request, p =>
                {
                    if (p.Stage is PipelineStage.CheckInputs or PipelineStage.PrepareTimesteps) return;
                    if (!bars.TryGetValue(p.Stage, out var bar))
                        bars[p.Stage] = bar = context.AddTask(StageLabel(p.Stage), maxValue: 1);
                    switch (p.Kind)
                    {
                        case ProgressKind.Step:
                            bar.MaxValue = p.TotalSteps;
                            bar.Value = p.Step;
                            break;
                        case ProgressKind.StageCompleted:
                            bar.Value = bar.MaxValue;
                            bar.StopTask();
                            break;
                    }
                }, ct);
            });
        return result!;
    }

    private static string StageLabel(PipelineStage stage) => stage switch
    {
        PipelineStage.EncodePrompt => "encode prompt",
        PipelineStage.PrepareLatents => "prepare latents",
        PipelineStage.Denoise => "denoise",
        PipelineStage.Decode => "decode (VAE)",
        PipelineStage.Postprocess => "postprocess",
        PipelineStage.CheckInputs => "check inputs",
        PipelineStage.PrepareTimesteps => "prepare timesteps",
        _ => stage.ToString(),
    };

    /// <summary>PNGs (one per image) or one .npy of all final latents; names never overwrite existing files.</summary>
    public static List<(string File, ulong Seed)> WriteOutputs(string directory, GenerationRequest request, GenerationResult result)
    {
        var written = new List<(string, ulong)>();
        if (request.OutputType == OutputType.Latent)
        {
            using var ms = new MemoryStream();
            NpyFile.Write(ms, result.Latents);
            written.Add((GeneratedFiles.Write(directory, ms.ToArray(), ".npy"), result.Images[0].Seed));
            return written;
        }
        foreach (var image in result.Images)
            written.Add((GeneratedFiles.Write(directory, image.ToPng()), image.Seed));
        return written;
    }

    private static readonly (PipelineStage Stage, string[] Parts)[] Layout =
    [
        (PipelineStage.CheckInputs, []),
        (PipelineStage.EncodePrompt, ["tokenize", StageNames.TextEncoder, StageNames.TextEncoder2, StageNames.TextEncoder3]),
        (PipelineStage.PrepareTimesteps, []),
        (PipelineStage.PrepareLatents, [StageNames.VaeEncoder]),
        (PipelineStage.Denoise, [StageNames.Transformer, "scheduler"]),
        (PipelineStage.Decode, [StageNames.VaeDecoder]),
        (PipelineStage.Postprocess, []),
    ];

    /// <summary>
    /// Time per pipeline stage, with its submodules indented under it: wall time and calls, and with local
    /// sessions the part inside ONNX Runtime's Run and the one-off session creation; then the pipeline's
    /// own overhead (total minus Run and session creation). Without a clock (the submodules are grains), the
    /// overhead is the time outside the submodule calls (tokenizing, guidance, PNG, and the job's own bookkeeping).
    /// </summary>
    public static Table Summary(GenerationResult result, OrtRunClock? clock = null)
    {
        var c = CultureInfo.InvariantCulture;
        var table = new Table().AddColumns("stage / submodule", "ms", "calls", "share");
        if (clock is not null) table.AddColumns("in ORT Run", "session load");
        double total = result.Total.TotalMilliseconds;
        string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("F1", c);
        void Row(string name, TimeSpan time, int calls, TimeSpan? run = null, TimeSpan? load = null)
        {
            var cells = new List<string> { Markup.Escape(name), Ms(time), calls == 0 ? "" : calls.ToString(c), (time.TotalMilliseconds / total).ToString("P1", c) };
            if (clock is not null) cells.AddRange([run is { } r ? Ms(r) : "", load is { } l && l > TimeSpan.Zero ? Ms(l) : ""]);
            table.AddRow(cells.ToArray());
        }
        foreach (var (stage, parts) in Layout)
        {
            Row(StageLabel(stage), result.Timings["stage:" + stage], 0);
            foreach (var part in parts.Where(p => result.Timings.Calls(p) > 0))
            {
                bool inOrt = part is not ("tokenize" or "scheduler");
                Row("  " + part, result.Timings[part], result.Timings.Calls(part), inOrt ? clock?.Run(part) : null, inOrt ? clock?.Load(part) : null);
            }
        }
        if (clock is not null)
        {
            var overhead = result.Total - clock.TotalRun - clock.TotalLoad;
            Row("outside ORT", overhead, 0);
        }
        else
        {
            // The three encoders run at once: their share is the encode stage's wall time, less tokenizing.
            var calls = result.Timings["stage:" + PipelineStage.EncodePrompt] - result.Timings["tokenize"]
                        + result.Timings[StageNames.Transformer] + result.Timings[StageNames.VaeDecoder] + result.Timings[StageNames.VaeEncoder];
            Row("outside submodule calls", result.Total - calls, 0);
        }
        table.AddRow(["total", Ms(result.Total), "", "100.0%", .. clock is null ? Array.Empty<string>() : [Ms(clock?.TotalRun ?? TimeSpan.Zero), Ms(clock?.TotalLoad ?? TimeSpan.Zero)]]);
        return table;
    }
}
