using System.CommandLine;
using Grpc.Core;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Generation;
using Sd3Mesh.Server.Grpc;
using Spectre.Console;
using E = Sd3Mesh.Protos.V1.JobEvent.EventOneofCase;
using GenerationClient = Sd3Mesh.Protos.V1.Generation.GenerationClient;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh jobs [--server URL]` lists a server's jobs; `jobs cancel ID`, `jobs watch ID [--out DIR]`. Exit codes
/// (<see cref="ExitCodes"/>): 0 done, 1 the watched job failed, 2 bad options or an unknown job id, 3 the server
/// could not be reached, 130 interrupted or the watched job was cancelled.
/// </summary>
public static class JobsCommand
{
    public static Command Create()
    {
        var server = new Option<string>("--server") { Description = "sd3mesh server URL", DefaultValueFactory = _ => ServerChannel.DefaultAddress, Recursive = true };
        var states = new Option<string[]>("--state")
        {
            Description = "Only jobs in these states (queued, running, succeeded, failed, cancelled)",
            AllowMultipleArgumentsPerToken = true,
        };
        var limit = new Option<int>("--limit") { Description = $"Newest N jobs (1-{GenerationService.MaxPageSize})", DefaultValueFactory = _ => GenerationService.DefaultPageSize };
        var tokenFile = CliOptions.TokenFile(recursive: true);
        var jobs = new Command("jobs", "List, watch or cancel the jobs of an sd3mesh server");
        jobs.Options.Add(server);
        jobs.Options.Add(tokenFile);
        jobs.Options.Add(states);
        jobs.Options.Add(limit);
        jobs.SetAction((parse, ct) => Run(parse.GetValue(server)!, parse.GetValue(tokenFile), client => ListAsync(AnsiConsole.Console, client, parse.GetValue(states) ?? [], parse.GetValue(limit), ct)));

        var cancelId = new Argument<string>("ID") { Description = "Job id" };
        var cancel = new Command("cancel", "Cancel a queued or running job");
        cancel.Arguments.Add(cancelId);
        cancel.SetAction((parse, ct) => Run(parse.GetValue(server)!, parse.GetValue(tokenFile), client => CancelAsync(AnsiConsole.Console, client, parse.GetValue(cancelId)!, ct)));
        jobs.Subcommands.Add(cancel);

        var watchId = new Argument<string>("ID") { Description = "Job id" };
        var outDir = new Option<DirectoryInfo?>("--out") { Description = "Save the job's images here when it finishes" };
        var watch = new Command("watch", "Follow a job's progress (past events first) until it ends");
        watch.Arguments.Add(watchId);
        watch.Options.Add(outDir);
        watch.SetAction((parse, ct) => Run(parse.GetValue(server)!, parse.GetValue(tokenFile), client => WatchAsync(AnsiConsole.Console, client, parse.GetValue(watchId)!, parse.GetValue(outDir), ct)));
        jobs.Subcommands.Add(watch);
        return jobs;
    }

    private static async Task<int> Run(string address, FileInfo? tokenFile, Func<GenerationClient, Task<int>> action)
    {
        var console = AnsiConsole.Console;
        using var channel = ServerChannel.Open(address, console, tokenFile, out var server);
        if (channel is null) return ExitCodes.Usage;
        try
        {
            return await action(new GenerationClient(channel));
        }
        catch (RpcException e)
        {
            console.MarkupLine($"[red]{Markup.Escape(ServerChannel.Describe(e, server))}[/]");
            return ExitCodes.FromStatus(e.StatusCode);
        }
    }

    public static async Task<int> ListAsync(IAnsiConsole console, GenerationClient client, string[] states, int limit, CancellationToken ct)
    {
        if (limit is < 1 or > GenerationService.MaxPageSize)
        {
            console.MarkupLine($"[red]{Markup.Escape($"--limit must be in [1, {GenerationService.MaxPageSize}], got {limit}")}[/]");
            return ExitCodes.Usage;
        }
        var request = new ListJobsRequest { PageSize = (uint)limit };
        foreach (var state in states)
        {
            if (!Enum.TryParse<JobState>(state, ignoreCase: true, out var parsed) || parsed == JobState.Unspecified)
            {
                console.MarkupLine($"[red]--state: unknown state '{Markup.Escape(state)}' (queued, running, succeeded, failed, cancelled)[/]");
                return ExitCodes.Usage;
            }
            request.States.Add(parsed);
        }
        var response = await client.ListJobsAsync(request, cancellationToken: ct);
        var table = new Table().AddColumns("Job", "State", "Prompt", "Size", "Progress", "Images", "Created", "Took");
        foreach (var job in response.Jobs)
        {
            var r = job.Request;
            var prompt = r.Prompt.Length > 40 ? r.Prompt[..39] + "…" : r.Prompt;
            var took = job.FinishedAt is not null && job.StartedAt is not null
                ? $"{(job.FinishedAt.ToDateTime() - job.StartedAt.ToDateTime()).TotalSeconds:F1} s" : "";
            var progress = job.State switch
            {
                JobState.Queued => $"position {job.QueuePosition}",
                JobState.Running => job.TotalSteps > 0 ? $"{job.Stage}: {job.Step}/{job.TotalSteps}" : job.Stage.ToString(),
                JobState.Failed => $"{((StatusCode)job.Error.Code).Name()}: {job.Error.Message}",
                _ => $"{job.Step}/{job.TotalSteps}",
            };
            table.AddRow(Markup.Escape(job.Id), StateMarkup(job.State), Markup.Escape(prompt),
                SizeOf(job), Markup.Escape(progress), job.Images.Count.ToString(),
                job.CreatedAt.ToDateTime().ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss"), took);
        }
        console.Write(table);
        if (response.NextPageToken.Length > 0) console.MarkupLine($"[grey](newest {response.Jobs.Count} shown; --limit for more)[/]");
        return ExitCodes.Ok;
    }

    public static async Task<int> CancelAsync(IAnsiConsole console, GenerationClient client, string jobId, CancellationToken ct)
    {
        var response = await client.CancelAsync(new CancelRequest { JobId = jobId }, cancellationToken: ct);
        console.MarkupLine(response.Cancelled
            ? $"cancelled job {Markup.Escape(jobId)}"
            : $"job {Markup.Escape(jobId)} had already ended ({response.State})");
        return ExitCodes.Ok;
    }

    public static async Task<int> WatchAsync(IAnsiConsole console, GenerationClient client, string jobId, DirectoryInfo? outDir, CancellationToken ct)
    {
        var job = await client.GetJobAsync(new GetJobRequest { JobId = jobId }, cancellationToken: ct);
        JobEvent? last = null;
        using (var call = client.Watch(new WatchRequest { JobId = jobId }, cancellationToken: ct))
        {
            try
            {
                await RemoteGenerate.ShowProgressAsync(console, job.Request, call.ResponseStream.ReadAllAsync(ct), e => last = e);
            }
            catch (Exception e) when (ct.IsCancellationRequested && e is RpcException or OperationCanceledException)
            {
                console.MarkupLine($"stopped watching job {Markup.Escape(jobId)} (it goes on; `sd3mesh jobs cancel {Markup.Escape(jobId)}` cancels it)");
                return ExitCodes.Interrupted;
            }
        }
        switch (last?.EventCase)
        {
            case E.Finished:
                if (outDir is not null)
                    return await RemoteGenerate.SaveImagesAsync(console, client, last.Finished.Images, outDir, ct) ? ExitCodes.Ok : ExitCodes.Failed;
                foreach (var image in last.Finished.Images)
                    console.MarkupLine(Markup.Escape($"image {image.Id}: {image.Width}x{image.Height}, seed {image.Seed}, {image.SizeBytes:N0} bytes"));
                return ExitCodes.Ok;
            case E.Failed:
                console.MarkupLine($"[red]job {Markup.Escape(jobId)} failed: {Markup.Escape(last.Failed.Message)}[/]");
                return ExitCodes.Failed;
            default:
                console.MarkupLine($"[yellow]job {Markup.Escape(jobId)} was cancelled: {Markup.Escape(last?.Cancelled?.Reason ?? "")}[/]");
                return ExitCodes.Interrupted;
        }
    }

    /// <summary>
    /// The images' size once there are images; before, the size asked for, or "auto" where the server
    /// decides (the init image's size, else the serving model's native size: not always 1024).
    /// </summary>
    private static string SizeOf(Job job)
    {
        if (job.Images.Count > 0) return $"{job.Images[0].Width}x{job.Images[0].Height}";
        var r = job.Request;
        return r.HasWidth && r.HasHeight ? $"{r.Width}x{r.Height}" : "auto";
    }

    private static string StateMarkup(JobState state) => state switch
    {
        JobState.Succeeded => "[green]succeeded[/]",
        JobState.Failed => "[red]failed[/]",
        JobState.Cancelled => "[yellow]cancelled[/]",
        JobState.Running => "[blue]running[/]",
        _ => "queued",
    };
}
