using Grpc.Core;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Pipeline.Imaging;
using Sd3Mesh.Server.Generation;
using Sd3Mesh.Server.Grpc;
using Sd3Mesh.Server.Jobs;
using Spectre.Console;
using E = Sd3Mesh.Protos.V1.JobEvent.EventOneofCase;
using GenerationClient = Sd3Mesh.Protos.V1.Generation.GenerationClient;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh generate --server URL ...`: sends the same GenerateRequest a local run builds (Generation.Generate),
/// shows the job's progress from its event stream, and writes the results (PNG bytes as the server made
/// them, metadata included) into the output folder without overwriting anything. Ctrl+C cancels the job on
/// the server. Exit codes (<see cref="ExitCodes"/>): 0 done, 1 the job failed (or its images could not be
/// saved), 2 the options or the server refused the request (or SD3MESH_SERVER_CERT is unusable), 3 the
/// server could not be reached, 130 cancelled.
/// </summary>
public static class RemoteGenerate
{
    /// <summary>generate's options, sent to <paramref name="address"/>.</summary>
    /// <param name="tokenFile">the server's API token (else $SD3MESH_TOKEN)</param>
    public static async Task<int> RunAsync(IAnsiConsole console, GenerateOptions.Values values, string address, CancellationToken cancellationToken,
        FileInfo? tokenFile = null)
    {
        var errors = LocalOnly(values);
        Uri? server = null;
        try { server = ServerChannel.Parse(address); }
        catch (ArgumentException e) { errors.Insert(0, e.Message); }
        var (request, requestErrors) = GenerateOptions.ToRequest(values);
        errors.AddRange(requestErrors.Select(GenerateOptions.Describe));
        if (errors.Count > 0)
        {
            foreach (var error in errors) console.MarkupLine($"[red]error:[/] {Markup.Escape(error)}");
            return ExitCodes.Usage;
        }
        return await RunAsync(request, server!, new DirectoryInfo(values.Out), console, cancellationToken, tokenFile);
    }

    /// <summary>The options a server cannot take: it owns its models and placement, and the API takes prompts and an init image.</summary>
    public static List<string> LocalOnly(GenerateOptions.Values v)
    {
        var errors = new List<string>();
        if (v.Models is not null) errors.Add("--models: the server uses its own models; leave --models out with --server");
        if (v.Device is not null) errors.Add("--device: the server places the submodules; leave --device out with --server");
        if (v.Latents is not null) errors.Add("--latents cannot be sent to a server (the API takes prompts and an init image)");
        return errors;
    }

    public static async Task<int> RunAsync(GenerateRequest request, Uri server, DirectoryInfo outDir, IAnsiConsole console,
        CancellationToken cancellationToken, FileInfo? tokenFile = null)
    {
        using var channel = ServerChannel.Open(server, console, tokenFile);
        if (channel is null) return ExitCodes.Usage;
        var client = new GenerationClient(channel);
        string? jobId = null;
        Finished? finished = null;
        Failed? failed = null;
        Cancelled? cancelled = null;
        try
        {
            using var call = client.Generate(request, cancellationToken: cancellationToken);
            await ShowProgressAsync(console, request, call.ResponseStream.ReadAllAsync(cancellationToken), e =>
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
        catch (Exception e) when (cancellationToken.IsCancellationRequested && e is RpcException or OperationCanceledException)
        {
            await CancelOnServerAsync(console, client, jobId);
            return ExitCodes.Interrupted;
        }
        catch (RpcException e)
        {
            console.MarkupLine($"[red]{Markup.Escape(ServerChannel.Describe(e, server))}[/]");
            return ExitCodes.FromStatus(e.StatusCode);
        }

        if (failed is not null)
        {
            console.MarkupLine($"[red]job {Markup.Escape(jobId ?? "")} failed ({Markup.Escape(((StatusCode)failed.Code).Name())}): {Markup.Escape(failed.Message)}[/]");
            return ExitCodes.Failed;
        }
        if (cancelled is not null || finished is null)
        {
            console.MarkupLine($"[yellow]job {Markup.Escape(jobId ?? "")} was cancelled on the server: {Markup.Escape(cancelled?.Reason ?? "no reason given")}[/]");
            return ExitCodes.Interrupted;
        }

        if (!await SaveImagesAsync(console, client, finished.Images, outDir, cancellationToken))
            return cancellationToken.IsCancellationRequested ? ExitCodes.Interrupted : ExitCodes.Failed;
        console.MarkupLine(Markup.Escape($"job {jobId} finished in {finished.ElapsedSeconds:F1} s on {server}"));
        return ExitCodes.Ok;
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
                    ? (await client.DownloadImageAsync(image.Id, cancellationToken: cancellationToken)).Data
                    : image.Data.ToByteArray();
                outDir.Create();
                var path = GeneratedFiles.Write(outDir.FullName, bytes, image.MediaType == JobImage.Npy ? ".npy" : ".png");
                console.MarkupLine(Markup.Escape($"{path} ({image.Width}x{image.Height}, seed {image.Seed}, {bytes.Length:N0} bytes)"));
            }
            catch (Exception e) when (e is RpcException or IOException or UnauthorizedAccessException or InvalidDataException)
            {
                console.MarkupLine($"[red]{Markup.Escape($"image {image.Id} not saved: {(e is RpcException rpc ? rpc.Status.Describe() : e.Message)}")}[/]");
                all = false;
            }
        }
        return all;
    }

    private static async Task CancelOnServerAsync(IAnsiConsole console, GenerationClient client, string? jobId)
    {
        if (jobId is null)
        {
            console.MarkupLine("[yellow]cancelled before the server accepted the job[/]");
            return;
        }
        try
        {
            var response = await client.CancelAsync(new CancelRequest { JobId = jobId }, deadline: DateTime.UtcNow.AddSeconds(5));
            console.MarkupLine($"[yellow]cancelled job {Markup.Escape(jobId)} on the server (state {response.State})[/]");
        }
        catch (RpcException cancelError)
        {
            console.MarkupLine($"[yellow]stopped watching job {Markup.Escape(jobId)}; " +
                               $"cancelling it on the server failed: {Markup.Escape(cancelError.Status.Describe())}[/]");
        }
    }

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
                var bar = context.AddTask("submitting", maxValue: request.HasSteps ? request.Steps : GenerationRequest.DefaultSteps);
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
