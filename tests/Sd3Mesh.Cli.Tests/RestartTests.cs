using Grpc.Core;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Grpc;
using Sd3Mesh.Server.Tests;
using Sd3Mesh.Server.Tests.Storage;
using E = Sd3Mesh.Protos.V1.JobEvent.EventOneofCase;
using PipelineRequest = Sd3Mesh.Pipeline.GenerationRequest;

namespace Sd3Mesh.Cli.Tests;

/// <summary>
/// `sd3mesh serve` killed outright (SIGKILL: no graceful stop, nothing flushed by us) in the middle of a job, then
/// started again on the same store: the job store (SQLite in the data folder, or a real PostgreSQL server) and the
/// result files are all it has.
/// </summary>
public sealed class RestartTests(TinyModels models, PostgresServer postgres) : IClassFixture<TinyModels>, IClassFixture<PostgresServer>, IDisposable
{
    private const int CheckpointEvery = 4, Steps = 60;
    private readonly string _data = Path.Combine(Path.GetTempPath(), "sd3mesh-restart-" + Guid.NewGuid().ToString("N")[..8]);
    private string? _postgres;


    private async Task<CliProcess> ServeAsync(int port)
    {
        var serve = CliProcess.Start(ServeArgs(port));
        await serve.WaitForOutputAsync("Ctrl+C stops", TimeSpan.FromSeconds(60));
        return serve;
    }

    private string[] ServeArgs(int port) =>
    [
        "serve", "--listen", $"127.0.0.1:{port}", "--http", "none", "--models", models.Folder, "--data", _data,
        "--checkpoint-every", CheckpointEvery.ToString(System.Globalization.CultureInfo.InvariantCulture),
        .. _postgres is null ? Array.Empty<string>() : ["--postgres", _postgres],
    ];

    private static (GenerateRequest Wire, PipelineRequest Local) Request(string prompt, uint steps, ulong seed, string requestId = "") =>
        (new GenerateRequest { Prompt = prompt, Width = 64, Height = 64, Steps = steps, Seed = seed, RequestId = requestId },
         new PipelineRequest { Prompt = prompt, Width = 64, Height = 64, Steps = (int)steps, Seeds = [seed] });

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task A_primary_killed_mid_job_resumes_it_from_its_checkpoint_and_its_png_is_the_uninterrupted_runs(string store)
    {
        if (store == "postgres") _postgres = await postgres.CreateDatabaseAsync();
        int port = Sd3Mesh.Runtime.Config.EmbeddedCluster.FreeLoopbackPorts(1)[0];
        var finished = Request("a lighthouse at dusk", 3, 1, "req-finished");
        var running = Request("a red fox in the snow", Steps, 2, "req-running");
        var queued = Request("a sailboat on a lake", 3, 3);
        string finishedId, runningId, queuedId, generateId;
        List<JobEvent> before;
        using (var first = await ServeAsync(port))
        using (var channel = GrpcChannels.Create($"http://127.0.0.1:{port}"))
        {
            if (_postgres is null)
            {
                // The folder is this server's: a second one is refused before it serves anything (the stores themselves are
                // tested for this in-process, PostgreSQL's advisory lock included).
                var (code, output) = await CliProcess.RunAsync(ServeArgs(Sd3Mesh.Runtime.Config.EmbeddedCluster.FreeLoopbackPorts(1)[0]));
                Assert.True(code == 1, output);
                Assert.Contains($"job store: the data folder {_data} is in use by another sd3mesh server (jobs.lock is locked): " +
                                "give each server a data folder of its own", output);
            }

            var client = new GenerationTestClient(channel);
            finishedId = (await client.SubmitAsync(finished.Wire)).JobId;
            Assert.Equal(E.Finished, (await ReadAsync(client.Api.Watch(new WatchRequest { JobId = finishedId }), _ => false))[^1].EventCase);
            runningId = (await client.SubmitAsync(running.Wire)).JobId;
            queuedId = (await client.SubmitAsync(queued.Wire)).JobId;
            using var generate = client.Api.Generate(Request("a Generate call's job", 3, 4).Wire);
            Assert.True(await generate.ResponseStream.MoveNext());
            generateId = generate.ResponseStream.Current.JobId;

            // Killed a few checkpoints into the job, with the queued jobs and the Generate call waiting behind it.
            before = await ReadAsync(client.Api.Watch(new WatchRequest { JobId = runningId }), e => e.Step?.Step == 3 * CheckpointEvery + 1);
            first.Signal(9);
            Assert.Equal(137, await first.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        }

        using (var second = await ServeAsync(port))
        using (var channel = GrpcChannels.Create($"http://127.0.0.1:{port}"))
        {
            Assert.Contains("(4 from earlier runs)", second.Output);
            var client = new GenerationTestClient(channel);
            // The request id still names the job: sending it again after the crash makes no second job.
            Assert.Equal(runningId, (await client.SubmitAsync(running.Wire)).JobId);

            // Reattached by id: the log as recorded up to the kill, then the rest. The first step after the restart is
            // the one after a checkpoint: the job resumed there, not from its first step.
            var after = await ReadAsync(client.Api.Watch(new WatchRequest { JobId = runningId }), _ => false);
            Assert.Equal(before, after.Take(before.Count));
            int requeued = after.FindIndex(before.Count - 1, e => e.EventCase == E.Queued);
            Assert.True(requeued >= before.Count, "no queued event after the restart");
            Assert.Equal(["queued 0", "stage Tokenize", "stage Encode", "stage Denoise"], after.Skip(requeued).Take(4).Select(LocalClusterTests.Describe));
            int resumedAt = (int)after[requeued + 4].Step.Step;
            Assert.True(resumedAt > CheckpointEvery && (resumedAt - 1) % CheckpointEvery == 0, $"resumed at step {resumedAt}");
            Assert.Equal(Enumerable.Range(resumedAt, Steps - resumedAt + 1).Select(s => $"step {s}/{Steps}"),
                after.Skip(requeued + 4).Where(e => e.EventCase == E.Step).Select(LocalClusterTests.Describe));
            Assert.Equal(Enumerable.Range(0, after.Count).Select(i => (ulong)i), after.Select(e => e.Sequence));

            // Byte for byte the image of a run that never stopped (the one-process pipeline).
            var image = Assert.Single(after[^1].Finished.Images);
            Assert.Equal(await LocalPngAsync(running.Local), image.Data.ToByteArray());
            Assert.Equal(image.Data.ToByteArray(), (await client.DownloadImageAsync(image.Id)).Data);

            // The finished job is listed and its image fetchable; the queued one ran; the Generate call's job ended with its call.
            var jobs = (await client.ListJobsAsync(new ListJobsRequest())).Jobs.ToDictionary(j => j.Id);
            Assert.Equal(JobState.Succeeded, jobs[finishedId].State);
            Assert.Equal(await LocalPngAsync(finished.Local), (await client.DownloadImageAsync(jobs[finishedId].Images[0].Id)).Data);
            // Watched again after the restart (a client whose stream the crash cut off), its finished event carries the
            // image inline as before (the store keeps it in a file, not in the event).
            var replayed = await ReadAsync(client.Api.Watch(new WatchRequest { JobId = finishedId }), _ => false);
            Assert.Equal(await LocalPngAsync(finished.Local), Assert.Single(replayed[^1].Finished.Images).Data.ToByteArray());
            var queuedEvents = await ReadAsync(client.Api.Watch(new WatchRequest { JobId = queuedId }), _ => false);
            Assert.Equal(await LocalPngAsync(queued.Local), queuedEvents[^1].Finished.Images[0].Data.ToByteArray());
            Assert.Equal(JobState.Cancelled, jobs[generateId].State);
            Assert.Equal("the server stopped during the job's Generate call (its job lives only as long as the call)",
                (await ReadAsync(client.Api.Watch(new WatchRequest { JobId = generateId }), _ => false))[^1].Cancelled.Reason);
            Assert.Equal(4, jobs.Count);

            second.Signal(CliProcess.SigTerm);
            Assert.Equal(0, await second.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        }
    }

    // The one-process pipeline's PNG for each request (by prompt), made once for both stores.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Task<byte[]>> References = new();

    private Task<byte[]> LocalPngAsync(PipelineRequest request) => References.GetOrAdd(request.Prompt, _ => models.LocalPngAsync(request));

    private static async Task<List<JobEvent>> ReadAsync(AsyncServerStreamingCall<JobEvent> call, Func<JobEvent, bool> last)
    {
        using (call)
        {
            var events = new List<JobEvent>();
            while (await call.ResponseStream.MoveNext())
            {
                events.Add(call.ResponseStream.Current);
                if (last(call.ResponseStream.Current)) break;
            }
            return events;
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(_data, recursive: true); } catch (IOException) { }
    }
}
