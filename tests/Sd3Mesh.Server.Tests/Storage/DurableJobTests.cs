using Grpc.Core;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Server.Jobs.Storage;
using E = Sd3Mesh.Protos.V1.JobEvent.EventOneofCase;

namespace Sd3Mesh.Server.Tests.Storage;

/// <summary>
/// Jobs in a durable store across a restart of the silo on the same store, through the public API (a scripted executor
/// whose "latents" after step k are [k]). The same tests run on SQLite and on a real PostgreSQL server.
/// </summary>
public abstract class DurableJobTests : IDisposable
{
    protected readonly string DataFolder = Path.Combine(Path.GetTempPath(), "sd3mesh-store-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>A new, empty store of this kind.</summary>
    protected abstract Task<StoreSpec> NewStoreAsync(int checkpointEvery = 3);

    /// <summary>Runs SQL on the store's database directly (what another tool, or an older or newer sd3mesh, would leave there).</summary>
    protected abstract Task ExecuteSqlAsync(StoreSpec store, string sql);

    /// <summary>How the store says that another server has it.</summary>
    protected abstract string InUse { get; }

    private static Task<TestSilo> StartAsync(StoreSpec store, ScriptedExecutor executor, int maxJobs = 1000) =>
        TestSilo.StartAsync(new SiloHostOptions { Store = store, MaxJobs = maxJobs }, executor);

    private static GenerateRequest Request(string prompt, string requestId = "", uint steps = 3)
    {
        var request = TestSilo.Request(prompt, steps);
        request.RequestId = requestId;
        return request;
    }

    private static async Task<List<JobEvent>> ReadUntilAsync(AsyncServerStreamingCall<JobEvent> call, Func<JobEvent, bool> last)
    {
        var events = new List<JobEvent>();
        while (await call.ResponseStream.MoveNext())
        {
            events.Add(call.ResponseStream.Current);
            if (last(call.ResponseStream.Current)) break;
        }
        return events;
    }

    [Fact]
    public async Task A_restart_lists_finished_jobs_runs_queued_ones_and_resumes_the_running_one_from_its_checkpoint()
    {
        var store = await NewStoreAsync(checkpointEvery: 3);
        string finishedId, runningId, queuedId;
        List<JobEvent> finishedEvents, before;
        var first = new ScriptedExecutor();
        await using (var silo = await StartAsync(store, first))
        {
            finishedId = (await silo.Client.SubmitAsync(Request("finished"))).JobId;
            finishedEvents = await silo.WatchAsync(finishedId);
            first.HoldAfterStep = 7; // the server stops while the next job is after step 7 (checkpoints after steps 3 and 6)
            var running = Request("running", "req-running", steps: 10);
            running.PreviewInterval = 2;
            runningId = (await silo.Client.SubmitAsync(running)).JobId;
            queuedId = (await silo.Client.SubmitAsync(Request("queued", "req-queued"))).JobId;
            using var watch = silo.Client.Api.Watch(new WatchRequest { JobId = runningId });
            before = await ReadUntilAsync(watch, e => e.Step?.Step == 7);

            // A graceful stop keeps submitted jobs for the next start: the watcher is told to come back.
            var stop = silo.Host.StopAsync();
            var gone = await Assert.ThrowsAsync<RpcException>(() => watch.ResponseStream.MoveNext());
            Assert.Equal((StatusCode.Unavailable, $"the server is stopping; job {runningId} is kept and goes on when it is back: Watch it again from sequence {before.Count}"),
                (gone.StatusCode, gone.Status.Detail));
            await stop;
        }
        Assert.Equal(["queued 0", "stage Tokenize", "stage Encode", "stage Denoise", "step 1/10", "step 2/10 preview", "step 3/10", "step 4/10 preview",
            "step 5/10", "step 6/10 preview", "step 7/10"], before.Select(JobFlowTests.Describe));

        var second = new ScriptedExecutor();
        await using (var silo = await StartAsync(store, second))
        {
            var after = await silo.WatchAsync(runningId);
            // The log goes on after what the first run recorded: queued again, then the steps after the checkpoint.
            Assert.Equal(before, after.Take(before.Count));
            Assert.Equal(["queued 0", "stage Tokenize", "stage Encode", "stage Denoise", "step 7/10", "step 8/10 preview", "step 9/10", "step 10/10 preview",
                "stage Decode", "finished 1"], after.Skip(before.Count).Select(JobFlowTests.Describe));
            Assert.Equal(Enumerable.Range(0, after.Count).Select(i => (ulong)i), after.Select(e => e.Sequence));
            Assert.Equal(ScriptedExecutor.ExpectedPreview(4), after[7].Step.Preview.Data.ToByteArray()); // a preview kept from the first run
            var resumed = second.Executed.Single(s => s.Request.Prompt == "running").Request.Resume!;
            Assert.Equal(6, resumed.Step);
            Assert.Equal([6f], resumed.Latents.ToArray<float>());

            var queued = await silo.WatchAsync(queuedId);
            // Queued behind the running job before the restart and after it.
            Assert.Equal(["queued 1", "queued 1", "stage Tokenize"], queued.Take(3).Select(JobFlowTests.Describe));
            Assert.Equal(E.Finished, queued[^1].EventCase);
            Assert.Null(second.Executed.Single(s => s.Request.Prompt == "queued").Request.Resume);
            Assert.DoesNotContain(second.Executed, s => s.Request.Prompt == "finished");

            // The finished job is listed and its log and image are kept; the image comes from its file now.
            var jobs = (await silo.Client.ListJobsAsync(new ListJobsRequest())).Jobs;
            Assert.Equal([(queuedId, JobState.Succeeded), (runningId, JobState.Succeeded), (finishedId, JobState.Succeeded)], jobs.Select(j => (j.Id, j.State)));
            var finished = jobs.Single(j => j.Id == finishedId);
            Assert.Equal(("finished", 32u, 42UL), (finished.Request.Prompt, finished.Request.Width, finished.Images.Single().Seed));
            var replayed = await silo.WatchAsync(finishedId);
            Assert.Equal(finishedEvents.Select(JobFlowTests.Describe), replayed.Select(JobFlowTests.Describe));
            Assert.Equal(finishedEvents.Select(e => e.Time), replayed.Select(e => e.Time));
            var (mediaType, png) = await silo.Client.DownloadImageAsync(finished.Images[0].Id);
            Assert.Equal("image/png", mediaType);
            Assert.Equal(ScriptedExecutor.ExpectedPng(32, 32, 42), png);
            Assert.Equal(ScriptedExecutor.ExpectedPng(32, 32, 42), File.ReadAllBytes(Path.Combine(store.DataFolder, "images", finished.Images[0].Id + ".png")));
            Assert.Empty(Directory.GetFiles(Path.Combine(store.DataFolder, "images"), "*.tmp"));

            // A request id still names its job: sent again it gives that job, with another request it is refused.
            var repeat = Request("running", "req-running", steps: 10);
            repeat.PreviewInterval = 2;
            Assert.Equal(runningId, (await silo.Client.SubmitAsync(repeat)).JobId);
            var other = await Assert.ThrowsAsync<RpcException>(() => silo.Client.SubmitAsync(Request("something else", "req-running")));
            Assert.Equal((StatusCode.AlreadyExists, $"request_id 'req-running' names job {runningId}, submitted with a different request; give a new job a new request_id"),
                (other.StatusCode, other.Status.Detail));
            Assert.Equal(3, (await silo.Client.ListJobsAsync(new ListJobsRequest())).Jobs.Count);
        }
    }

    [Fact]
    public async Task A_second_server_on_the_same_store_is_refused_until_the_first_stops()
    {
        var store = await NewStoreAsync();
        var first = await StartAsync(store, new ScriptedExecutor());
        try
        {
            // Refused as it starts, before it serves anything.
            await using var second = new SiloHost(new ScriptedExecutor(), new SiloHostOptions { Store = store, Listen = "127.0.0.1:0" });
            var refused = await Assert.ThrowsAsync<JobStoreException>(() => second.StartAsync());
            Assert.Contains(InUse, refused.Message);
        }
        finally
        {
            await first.DisposeAsync();
        }
        await using var third = await StartAsync(store, new ScriptedExecutor());
        Assert.Equal(E.Finished, (await third.GenerateAsync(Request("after")))[^1].EventCase);
    }

    [Fact]
    public async Task A_store_whose_schema_is_newer_than_this_sd3mesh_is_refused()
    {
        var store = await NewStoreAsync();
        JobStores.OpenDatabase(store).Dispose(); // creates the schema (version 1)
        await ExecuteSqlAsync(store, "INSERT INTO schema_migrations (version, applied_at) VALUES (2, 0)");
        var e = Assert.Throws<JobStoreException>(() => JobStores.OpenDatabase(store));
        Assert.EndsWith(" holds job store schema version 2, newer than this sd3mesh knows (1): run the newer sd3mesh", e.Message);
    }

    [Fact]
    public async Task Jobs_beyond_the_history_limit_leave_the_store_with_their_files()
    {
        var store = await NewStoreAsync();
        var ids = new List<string>();
        await using (var silo = await StartAsync(store, new ScriptedExecutor(), maxJobs: 2))
        {
            foreach (var prompt in new[] { "one", "two", "three" })
                ids.Add((await silo.GenerateAsync(Request(prompt)))[0].JobId);
            Assert.Equal([ids[2], ids[1]], (await silo.Client.ListJobsAsync(new ListJobsRequest())).Jobs.Select(j => j.Id));
        }
        Assert.Equal(new[] { ids[1] + "_0.png", ids[2] + "_0.png" }.Order(), Directory.GetFiles(Path.Combine(store.DataFolder, "images")).Select(Path.GetFileName).Order());
        await using (var silo = await StartAsync(store, new ScriptedExecutor(), maxJobs: 2))
            Assert.Equal([ids[2], ids[1]], (await silo.Client.ListJobsAsync(new ListJobsRequest())).Jobs.Select(j => j.Id));
    }

    public void Dispose()
    {
        try { Directory.Delete(DataFolder, recursive: true); } catch (DirectoryNotFoundException) { }
        GC.SuppressFinalize(this);
    }
}

/// <summary>The durable store in SQLite (the default: jobs.db in the data folder).</summary>
public sealed class SqliteJobStoreTests : DurableJobTests
{
    protected override Task<StoreSpec> NewStoreAsync(int checkpointEvery = 3) => Task.FromResult(new StoreSpec(DataFolder, null, checkpointEvery));

    protected override Task ExecuteSqlAsync(StoreSpec store, string sql)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(store.DataFolder, SqliteJobDatabase.FileName)};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
        return Task.CompletedTask;
    }

    protected override string InUse => "is in use by another sd3mesh server (jobs.lock is locked): give each server a data folder of its own";
}

/// <summary>The durable store in PostgreSQL: a real server, started for these tests (<see cref="PostgresServer"/>).</summary>
public sealed class PostgresJobStoreTests(PostgresServer server) : DurableJobTests, IClassFixture<PostgresServer>
{
    protected override async Task<StoreSpec> NewStoreAsync(int checkpointEvery = 3) => new(DataFolder, await server.CreateDatabaseAsync(), checkpointEvery);

    protected override async Task ExecuteSqlAsync(StoreSpec store, string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(store.Postgres);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    protected override string InUse => "is in use by another sd3mesh primary (it holds advisory lock";
}
