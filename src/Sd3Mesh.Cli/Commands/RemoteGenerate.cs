using Sd3Mesh.Protos.V1;
using Sd3Mesh.Rpc;
using Sd3Mesh.Pipeline.Imaging;
using Sd3Mesh.Server.Generation;
using Sd3Mesh.Server.Jobs;
using Spectre.Console;
using E = Sd3Mesh.Protos.V1.JobEvent.EventOneofCase;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh generate --server URL ...`: submits the request over gRPC (Generation.Generate), shows the
/// job's progress from its event stream, and writes the results (PNG bytes as the server made them,
/// metadata included) into the output folder without overwriting anything. Ctrl+C cancels the job on
/// the server. Exit codes: 0 done, 1 the job failed (or its images could not be saved), 2 the server
/// refused the request (or SD3MESH_SERVER_CERT is unusable), 3 the server could not be reached, 130 cancelled.
/// </summary>
public static class RemoteGenerate
{
    public static async Task<int> RunAsync(GenerateRequest request, Uri server, DirectoryInfo outDir, IAnsiConsole console,
        CancellationToken cancellationToken)
    {
        using var channel = ServerChannel.Open(server, console);
        if (channel is null) return 2;
        var client = new GenerationClient(channel);
        string? jobId = null;
        Finished? finished = null;
        Failed? failed = null;
        Cancelled? cancelled = null;
        try
        {
            using var call = client.Generate(request, new CallOptions { CancellationToken = cancellationToken });
            await ShowProgressAsync(console, request, call.ResponseStream, e =>
            {
                jobId ??= e.JobId;
                switch (e.EventCase)
                {
                    case E.Finished: finished = e.Finished; break;
                    case E.Failed: failed = e.Failed; break;
                    case E.Cancelled: cancelled = e.Cancelled; break;
                }
            });
        }
        catch (RpcException e) when (cancellationToken.IsCancellationRequested)
        {
            await CancelOnServerAsync(console, client, jobId, e);
            return 130;
        }
        catch (RpcException e)
        {
            console.MarkupLine($"[red]{Markup.Escape(Describe(e, server))}[/]");
            return e.StatusCode is Rpc.StatusCode.InvalidArgument or Rpc.StatusCode.ResourceExhausted ? 2
                : e.StatusCode == Rpc.StatusCode.Unavailable ? 3 : 1;
        }

        if (failed is not null)
        {
            console.MarkupLine($"[red]job {Markup.Escape(jobId ?? "")} failed ({Markup.Escape(((Rpc.StatusCode)failed.Code).Name())}): {Markup.Escape(failed.Message)}[/]");
            return 1;
        }
        if (cancelled is not null || finished is null)
        {
            console.MarkupLine($"[yellow]job {Markup.Escape(jobId ?? "")} was cancelled on the server: {Markup.Escape(cancelled?.Reason ?? "no reason given")}[/]");
            return 130;
        }

        if (!await SaveImagesAsync(console, client, finished.Images, outDir, cancellationToken))
            return cancellationToken.IsCancellationRequested ? 130 : 1;
        console.MarkupLine(Markup.Escape($"job {jobId} finished in {finished.ElapsedSeconds:F1} s on {server}"));
        return 0;
    }

    /// <summary>
    /// The wire request for generate's options. Range checks are the server's (INVALID_ARGUMENT naming the
    /// field); here only what a server cannot take: --models, --device and --latents (the server owns its
    /// models and placement, and the API takes prompts and an init image), an unreadable --init-image.
    /// </summary>
    public static GenerateRequest BuildRequest(GenerateOptions.Values v)
    {
        if (v.Models is not null) throw new ArgumentException("--models: the server uses its own models; leave --models out with --server");
        if (v.Device != "cpu") throw new ArgumentException("--device: the server places the submodules; leave --device out with --server");
        if (v.Latents is not null) throw new ArgumentException("--latents cannot be sent to a server (the API takes prompts and an init image)");
        static uint NonNegative(string option, long value) =>
            value >= 0 ? (uint)value : throw new ArgumentException($"{option} must not be negative, got {value}");
        var request = new GenerateRequest
        {
            Prompt = v.Prompt,
            Prompt2 = v.Prompt2 ?? "",
            Prompt3 = v.Prompt3 ?? "",
            NegativePrompt = v.Negative ?? "",
            NegativePrompt2 = v.Negative2 ?? "",
            NegativePrompt3 = v.Negative3 ?? "",
            Steps = NonNegative("--steps", v.Steps),
            GuidanceScale = (float)v.Guidance,
            Count = NonNegative("--count", v.Count),
            MaxSequenceLength = NonNegative("--max-sequence-length", v.MaxSequenceLength),
            NoT5 = v.NoT5,
            OutputType = v.OutputType == Pipeline.OutputType.Latent ? OutputType.Latent : OutputType.Image,
            CfgMode = v.Cfg == Pipeline.Guidance.CfgMode.Split ? CfgMode.Split : CfgMode.Batched,
        };
        if (v.Width is { } width) request.Width = NonNegative("--width", width);
        if (v.Height is { } height) request.Height = NonNegative("--height", height);
        if (v.ClipSkip is { } clipSkip) request.ClipSkip = NonNegative("--clip-skip", clipSkip);
        if (v.Seeds.Length == 1) request.Seed = v.Seeds[0];
        else request.Seeds.AddRange(v.Seeds);
        if (v.InitImage is { } path)
        {
            if (!File.Exists(path)) throw new ArgumentException($"--init-image: '{path}' does not exist");
            request.InitImage = Google.Protobuf.ByteString.CopyFrom(File.ReadAllBytes(path));
            request.Strength = (float)v.Strength;
        }
        return request;
    }

    /// <summary>
    /// Writes each result (inline bytes, or fetched with GetImage) as a new numbered file. An image that
    /// cannot be fetched (e.g. dropped from the server's store) or written is reported and skipped; false
    /// when any was.
    /// </summary>
    public static async Task<bool> SaveImagesAsync(IAnsiConsole console, GenerationClient client, IEnumerable<Image> images, DirectoryInfo outDir,
        CancellationToken cancellationToken)
    {
        bool all = true;
        foreach (var image in images)
        {
            try
            {
                var bytes = image.Data.IsEmpty
                    ? (await client.DownloadImageAsync(image.Id, options: new CallOptions { CancellationToken = cancellationToken })).Data
                    : image.Data.ToByteArray();
                outDir.Create();
                var path = GeneratedFiles.Write(outDir.FullName, bytes, image.MediaType == JobImage.Npy ? ".npy" : ".png");
                console.MarkupLine(Markup.Escape($"{path} ({image.Width}x{image.Height}, seed {image.Seed}, {bytes.Length:N0} bytes)"));
            }
            catch (Exception e) when (e is RpcException or IOException or UnauthorizedAccessException or InvalidDataException)
            {
                console.MarkupLine($"[red]{Markup.Escape($"image {image.Id} not saved: {(e is RpcException rpc ? rpc.Status.ToString() : e.Message)}")}[/]");
                all = false;
            }
        }
        return all;
    }

    private static async Task CancelOnServerAsync(IAnsiConsole console, GenerationClient client, string? jobId, RpcException e)
    {
        if (jobId is null)
        {
            console.MarkupLine("[yellow]cancelled before the server accepted the job[/]");
            return;
        }
        try
        {
            var response = await client.CancelAsync(jobId, CallOptions.WithTimeout(TimeSpan.FromSeconds(5)));
            console.MarkupLine($"[yellow]cancelled job {Markup.Escape(jobId)} on the server (state {response.State})[/]");
        }
        catch (RpcException cancelError)
        {
            console.MarkupLine($"[yellow]stopped watching job {Markup.Escape(jobId)} ({Markup.Escape(e.Status.Detail)}); " +
                               $"cancelling it on the server failed: {Markup.Escape(cancelError.Status.ToString())}[/]");
        }
    }

    /// <summary>A one-line explanation of a failed call for the terminal.</summary>
    public static string Describe(RpcException e, Uri server) => e.StatusCode switch
    {
        Rpc.StatusCode.InvalidArgument => $"the server refused the request: {e.Status.Detail}",
        Rpc.StatusCode.Unavailable => $"server unavailable ({server}): {e.Status.Detail}",
        _ => $"{e.Status.Code.Name()}: {e.Status.Detail}",
    };

    /// <summary>
    /// Draws the job's progress (queue position, stage, step k of N) while <paramref name="events"/> runs;
    /// plain lines on a non-interactive terminal.
    /// </summary>
    internal static async Task ShowProgressAsync(IAnsiConsole console, GenerateRequest request, IAsyncEnumerable<JobEvent> events, Action<JobEvent> seen)
    {
        if (!console.Profile.Capabilities.Interactive)
        {
            uint lastReported = 0;
            await foreach (var e in events)
            {
                seen(e);
                var line = e.EventCase switch
                {
                    E.Queued => $"job {e.JobId}: queued at position {e.Queued.Position}",
                    E.StageStarted => $"job {e.JobId}: {StageName(e.StageStarted.Stage)}",
                    // About ten lines per job, plus the last step.
                    E.Step when e.Step.Step == e.Step.TotalSteps || e.Step.Step - lastReported >= Math.Max(1, e.Step.TotalSteps / 10)
                        => $"job {e.JobId}: step {lastReported = e.Step.Step}/{e.Step.TotalSteps}",
                    _ => null,
                };
                if (line is not null) console.MarkupLine(Markup.Escape(line));
            }
            return;
        }

        await console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var bar = context.AddTask("submitting", maxValue: request.HasSteps ? request.Steps : Pipeline.GenerationRequest.DefaultSteps);
                await foreach (var e in events)
                {
                    seen(e);
                    switch (e.EventCase)
                    {
                        case E.Queued:
                            bar.Description = Markup.Escape($"queued (position {e.Queued.Position})");
                            break;
                        case E.StageStarted:
                            bar.Description = Markup.Escape(StageName(e.StageStarted.Stage));
                            break;
                        case E.Step:
                            bar.MaxValue = e.Step.TotalSteps;
                            bar.Value = e.Step.Step;
                            bar.Description = Markup.Escape($"denoising {e.Step.Step}/{e.Step.TotalSteps}");
                            break;
                        case E.Finished:
                            bar.Description = "done";
                            bar.Value = bar.MaxValue;
                            break;
                        case E.Failed or E.Cancelled:
                            bar.Description = e.EventCase == E.Failed ? "failed" : "cancelled";
                            bar.StopTask();
                            break;
                    }
                }
            });
    }

    private static string StageName(Stage stage) => stage switch
    {
        Stage.Tokenize => "tokenizing",
        Stage.Encode => "encoding the prompts",
        Stage.Denoise => "denoising",
        Stage.Decode => "decoding",
        _ => stage.ToString(),
    };
}
