using Grpc.Core;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Generation;
using Sd3Mesh.Server.Jobs;
using E = Sd3Mesh.Protos.V1.JobEvent.EventOneofCase;

namespace Sd3Mesh.Server.Tests;

/// <summary>Jobs end to end through the public API, on a scripted executor.</summary>
public class JobFlowTests
{
    internal static string Describe(JobEvent e) => e.EventCase switch
    {
        E.Queued => $"queued {e.Queued.Position}",
        E.StageStarted => $"stage {e.StageStarted.Stage}",
        E.Step => $"step {e.Step.Step}/{e.Step.TotalSteps}" + (e.Step.Preview is null ? "" : " preview"),
        E.Finished => $"finished {e.Finished.Images.Count}",
        E.Failed => $"failed {e.Failed.Code}: {e.Failed.Message}",
        E.Cancelled => $"cancelled: {e.Cancelled.Reason}",
        _ => "?",
    };

    [Fact]
    public async Task Generate_streams_every_event_and_the_png_bytes()
    {
        await using var silo = await TestSilo.StartAsync();
        var request = TestSilo.Request();
        request.Count = 2;
        request.PreviewInterval = 2;
        var events = await silo.GenerateAsync(request);

        Assert.Equal(["queued 0", "stage Tokenize", "stage Encode", "stage Denoise", "step 1/3", "step 2/3 preview", "step 3/3", "stage Decode", "finished 2"],
            events.Select(Describe));
        Assert.Equal(Enumerable.Range(0, events.Count).Select(i => (ulong)i), events.Select(e => e.Sequence));
        Assert.All(events, e => Assert.Equal(events[0].JobId, e.JobId));

        var images = events[^1].Finished.Images;
        Assert.Equal([42UL, 43UL], images.Select(i => i.Seed));
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(ScriptedExecutor.ExpectedPng(32, 32, 42 + (ulong)i), images[i].Data.ToByteArray());
            Assert.Equal(("image/png", 32u, 32u, (uint)i), (images[i].MediaType, images[i].Width, images[i].Height, images[i].Index));
            Assert.Equal((ulong)images[i].Data.Length, images[i].SizeBytes);
        }
        Assert.Equal((2, 2), TestPng.Size(events[5].Step.Preview.Data.ToByteArray()));
    }

    [Fact]
    public async Task Jobs_run_one_at_a_time_in_submission_order()
    {
        var executor = new ScriptedExecutor { Gate = new(TaskCreationOptions.RunContinuationsAsynchronously) };
        await using var silo = await TestSilo.StartAsync(executor: executor);
        var first = await silo.Client.SubmitAsync(TestSilo.Request("first"));
        await executor.Started.Task.WaitAsync(TimeSpan.FromSeconds(5));
        var second = await silo.Client.SubmitAsync(TestSilo.Request("second"));
        var third = await silo.Client.SubmitAsync(TestSilo.Request("third"));
        Assert.Equal((0u, 1u, 2u), (first.QueuePosition, second.QueuePosition, third.QueuePosition));
        Assert.Equal(JobState.Running, (await silo.Client.GetJobAsync(first.JobId)).State);
        Assert.Equal(JobState.Queued, (await silo.Client.GetJobAsync(third.JobId)).State);

        executor.Gate.SetResult();
        var thirdEvents = await silo.WatchAsync(third.JobId);
        // Its position went 2 -> 1 as the first finished; when the second finished it started at once.
        Assert.Equal(["queued 2", "queued 1", "stage Tokenize"], thirdEvents.Take(3).Select(Describe));
        Assert.Equal(E.Finished, thirdEvents[^1].EventCase);
        Assert.Equal(["first", "second", "third"], executor.Executed.Select(s => s.Request.Prompt));
        Assert.Equal(1, executor.MaxConcurrency);
    }

    [Fact]
    public async Task Watch_replays_past_events_and_resumes_from_a_sequence()
    {
        await using var silo = await TestSilo.StartAsync();
        var generated = await silo.GenerateAsync(TestSilo.Request());
        var jobId = generated[0].JobId;
        Assert.Equal(generated, await silo.WatchAsync(jobId));
        Assert.Equal(generated.Skip(5), await silo.WatchAsync(jobId, from: 5));
        var missing = await Assert.ThrowsAsync<RpcException>(() => silo.WatchAsync("0000000000000000"));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task A_request_id_names_one_job_however_often_and_however_it_is_sent()
    {
        var executor = new ScriptedExecutor { Gate = new(TaskCreationOptions.RunContinuationsAsynchronously) };
        await using var silo = await TestSilo.StartAsync(executor: executor);
        var request = TestSilo.Request("once");
        request.RequestId = "6f1c2a0e-9d4b-4f3e-8a7c-3b2d1e0f9a8b";
        var first = await silo.Client.SubmitAsync(request);
        var repeats = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => silo.Client.SubmitAsync(request)));
        Assert.All(repeats, r => Assert.Equal(first.JobId, r.JobId));
        executor.Gate.SetResult();
        var events = await silo.GenerateAsync(request); // Generate with the id streams that same job
        Assert.Equal((first.JobId, E.Finished), (events[0].JobId, events[^1].EventCase));
        Assert.Single(executor.Executed);

        var other = request.Clone();
        other.Steps = 4;
        var refused = await Assert.ThrowsAsync<RpcException>(() => silo.Client.SubmitAsync(other));
        Assert.Equal((StatusCode.AlreadyExists, $"request_id '{request.RequestId}' names job {first.JobId}, submitted with a different request; give a new job a new request_id"),
            (refused.StatusCode, refused.Status.Detail));
        other.RequestId = "";
        Assert.NotEqual(first.JobId, (await silo.Client.SubmitAsync(other)).JobId); // without one, every request is a job
        Assert.Equal(2, (await silo.Client.ListJobsAsync(new ListJobsRequest())).Jobs.Count);
    }

    [Fact]
    public async Task Watchers_of_a_running_job_get_live_events()
    {
        var executor = new ScriptedExecutor { Gate = new(TaskCreationOptions.RunContinuationsAsynchronously) };
        await using var silo = await TestSilo.StartAsync(executor: executor);
        var job = await silo.Client.SubmitAsync(TestSilo.Request());
        var watchers = Enumerable.Range(0, 3).Select(_ => silo.WatchAsync(job.JobId)).ToList();
        await executor.Started.Task.WaitAsync(TimeSpan.FromSeconds(5));
        executor.Gate.SetResult();
        var all = await Task.WhenAll(watchers);
        Assert.All(all, events => Assert.Equal(all[0], events));
        Assert.Equal(E.Finished, all[0][^1].EventCase);
    }

    [Fact]
    public async Task Cancel_a_queued_job_a_running_job_and_an_ended_job()
    {
        var executor = new ScriptedExecutor { Gate = new(TaskCreationOptions.RunContinuationsAsynchronously) };
        await using var silo = await TestSilo.StartAsync(executor: executor);
        var running = await silo.Client.SubmitAsync(TestSilo.Request("running"));
        await executor.Started.Task.WaitAsync(TimeSpan.FromSeconds(5));
        var queued = await silo.Client.SubmitAsync(TestSilo.Request("queued"));

        var cancelQueued = await silo.Client.CancelAsync(queued.JobId);
        Assert.Equal((true, JobState.Cancelled), (cancelQueued.Cancelled, cancelQueued.State));
        Assert.Equal(["queued 1", "cancelled: cancelled by a client"], (await silo.WatchAsync(queued.JobId)).Select(Describe));

        var cancelRunning = await silo.Client.CancelAsync(running.JobId);
        Assert.Equal((true, JobState.Cancelled), (cancelRunning.Cancelled, cancelRunning.State));
        Assert.Equal("running", await executor.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(E.Cancelled, (await silo.WatchAsync(running.JobId))[^1].EventCase);

        var again = await silo.Client.CancelAsync(running.JobId);
        Assert.Equal((false, JobState.Cancelled), (again.Cancelled, again.State));
        Assert.Equal(["running"], executor.Executed.Select(s => s.Request.Prompt)); // the cancelled queued job never ran
        var unknown = await Assert.ThrowsAsync<RpcException>(() => silo.Client.CancelAsync("nope"));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
    }

    /// <summary>Holds every job on a gate without looking at its token: an executor slow to notice cancellation.</summary>
    private sealed class SlowToCancelExecutor : Jobs.IJobExecutor
    {
        public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public Pipeline.Sd3ModelConfig? Model => null;

        public async Task<IReadOnlyList<Jobs.JobImage>> ExecuteAsync(Jobs.GenerationSpec spec, Jobs.IJobProgress progress, CancellationToken cancellationToken)
        {
            Started.TrySetResult();
            await Gate.Task;
            cancellationToken.ThrowIfCancellationRequested();
            return [.. spec.Seeds.Select(seed => new Jobs.JobImage(Jobs.JobImage.Png, ScriptedExecutor.ExpectedPng(32, 32, seed), 32, 32, seed))];
        }
    }

    [Fact]
    public async Task A_job_submitted_after_the_running_one_ended_has_nobody_ahead()
    {
        var executor = new SlowToCancelExecutor();
        await using var silo = await TestSilo.StartWithAsync(executor);
        var first = await silo.Client.SubmitAsync(TestSilo.Request("first"));
        await executor.Started.Task.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True((await silo.Client.CancelAsync(first.JobId)).Cancelled); // ended now; its executor has not noticed yet

        SubmitResponse second;
        try
        {
            second = await silo.Client.SubmitAsync(TestSilo.Request("second"));
        }
        finally
        {
            executor.Gate.SetResult(); // the silo cannot stop while its worker waits here
        }
        Assert.Equal(0u, second.QueuePosition);
        var events = await silo.WatchAsync(second.JobId);
        Assert.Equal(["queued 0", "finished 1"], events.Select(Describe));
    }

    [Fact]
    public async Task Leaving_a_generate_call_cancels_its_job()
    {
        var executor = new ScriptedExecutor { StepDelay = TimeSpan.FromMilliseconds(50) };
        await using var silo = await TestSilo.StartAsync(executor: executor);
        using var cts = new CancellationTokenSource();
        var request = TestSilo.Request(steps: 1000);
        string? jobId = null;
        await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = silo.Client.Api.Generate(request, cancellationToken: cts.Token);
            while (await call.ResponseStream.MoveNext())
            {
                jobId = call.ResponseStream.Current.JobId;
                if (call.ResponseStream.Current.EventCase == E.Step) cts.Cancel();
            }
        });
        Assert.Equal(request.Prompt, await executor.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5)));
        var events = await silo.WatchAsync(jobId!);
        Assert.Equal("cancelled: the Generate call was cancelled", Describe(events[^1]));
    }

    [Fact]
    public async Task A_generate_call_that_fails_takes_its_job_with_it()
    {
        // Every step event carries a preview bigger than the server's send limit: the first one fails the call.
        var executor = new ScriptedExecutor { StepDelay = TimeSpan.FromMilliseconds(20) };
        await using var silo = await TestSilo.StartAsync(new SiloHostOptions { MaxSendMessageSize = 100 }, executor);
        var request = TestSilo.Request(steps: 1000);
        request.PreviewInterval = 1;

        var error = await Assert.ThrowsAsync<RpcException>(() => silo.GenerateAsync(request));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Equal(request.Prompt, await executor.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5)));
        var job = Assert.Single(silo.Host.Jobs.Store.List(long.MaxValue, 10, null));
        Assert.Equal(JobState.Cancelled, job.State);
        Assert.StartsWith("cancelled: the Generate call failed (RESOURCE_EXHAUSTED: ", Describe(job.Events.Snapshot()[^1]));
    }

    [Fact]
    public async Task Executor_failures_become_failed_events_with_status_codes()
    {
        var executor = new ScriptedExecutor { Failure = new RpcException(new Status(StatusCode.ResourceExhausted, "the transformer needs 9 GiB, cuda:0 has 4 GiB free")) };
        await using var silo = await TestSilo.StartAsync(executor: executor);
        var events = await silo.GenerateAsync(TestSilo.Request());
        Assert.Equal("failed 8: the transformer needs 9 GiB, cuda:0 has 4 GiB free", Describe(events[^1]));
        var job = await silo.Client.GetJobAsync(events[0].JobId);
        Assert.Equal((JobState.Failed, 8), (job.State, job.Error.Code));

        executor.Failure = new InvalidOperationException("secret internals");
        events = await silo.GenerateAsync(TestSilo.Request());
        Assert.Equal("failed 13: internal error (InvalidOperationException); details are in the server log", Describe(events[^1]));
    }

    [Fact]
    public async Task Get_and_list_jobs_with_paging_and_state_filter()
    {
        await using var silo = await TestSilo.StartAsync();
        var ids = new List<string>();
        for (int i = 0; i < 5; i++) ids.Add((await silo.GenerateAsync(TestSilo.Request($"job {i}")))[0].JobId);
        var executor = silo.Executor;
        executor.Failure = new ArgumentException("bad");
        var failedId = (await silo.GenerateAsync(TestSilo.Request("job 5")))[0].JobId;

        var job = await silo.Client.GetJobAsync(ids[2]);
        Assert.Equal(("job 2", JobState.Succeeded, 3u, 3u, 1), (job.Request.Prompt, job.State, job.Step, job.TotalSteps, job.Images.Count));
        Assert.True(job.Images[0].Data.IsEmpty); // listings leave the bytes to GetImage
        Assert.NotNull(job.StartedAt);
        Assert.True(job.FinishedAt.ToDateTime() >= job.StartedAt.ToDateTime());

        var page1 = await silo.Client.ListJobsAsync(new ListJobsRequest { PageSize = 4 });
        Assert.Equal([failedId, ids[4], ids[3], ids[2]], page1.Jobs.Select(j => j.Id));
        var page2 = await silo.Client.ListJobsAsync(new ListJobsRequest { PageSize = 4, PageToken = page1.NextPageToken });
        Assert.Equal([ids[1], ids[0]], page2.Jobs.Select(j => j.Id));
        Assert.Equal("", page2.NextPageToken);

        var failed = await silo.Client.ListJobsAsync(new ListJobsRequest { States = { JobState.Failed } });
        Assert.Equal([failedId], failed.Jobs.Select(j => j.Id));

        var badToken = await Assert.ThrowsAsync<RpcException>(() => silo.Client.ListJobsAsync(new ListJobsRequest { PageToken = "xyz" }));
        Assert.Equal(StatusCode.InvalidArgument, badToken.StatusCode);
        var badSize = await Assert.ThrowsAsync<RpcException>(() => silo.Client.ListJobsAsync(new ListJobsRequest { PageSize = 501 }));
        Assert.Equal("page_size must be in [0, 500] (0 means 50), got 501", badSize.Status.Detail);
    }

    [Fact]
    public async Task Large_images_are_fetched_with_get_image_in_chunks()
    {
        await using var silo = await TestSilo.StartAsync(new SiloHostOptions { InlineImageLimit = 100 });
        var request = TestSilo.Request();
        request.Width = 64;
        request.Height = 48;
        var finished = (await silo.GenerateAsync(request))[^1].Finished;
        var image = finished.Images[0];
        Assert.True(image.Data.IsEmpty);
        var expected = ScriptedExecutor.ExpectedPng(64, 48, 42);
        Assert.Equal((ulong)expected.Length, image.SizeBytes);

        var (mediaType, data) = await silo.Client.DownloadImageAsync(image.Id, chunkSize: 100);
        Assert.Equal("image/png", mediaType);
        Assert.Equal(expected, data);

        using var call = silo.Client.Api.GetImage(new GetImageRequest { ImageId = image.Id, ChunkSize = 100 });
        var chunks = new List<ImageChunk>();
        await foreach (var c in call.ResponseStream.ReadAllAsync()) chunks.Add(c);
        Assert.Equal((expected.Length + 99) / 100, chunks.Count);
        Assert.Equal(Enumerable.Range(0, chunks.Count).Select(i => (ulong)(i * 100)), chunks.Select(c => c.Offset));

        var unknown = await Assert.ThrowsAsync<RpcException>(() => silo.Client.DownloadImageAsync(image.Id + "9"));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        var tooBig = await Assert.ThrowsAsync<RpcException>(() => silo.Client.DownloadImageAsync(image.Id, chunkSize: 5 * 1024 * 1024));
        Assert.Equal(StatusCode.InvalidArgument, tooBig.StatusCode);
    }

    [Fact]
    public async Task History_is_bounded()
    {
        await using var silo = await TestSilo.StartAsync(new SiloHostOptions { MaxJobs = 2 });
        var ids = new List<string>();
        for (int i = 0; i < 3; i++) ids.Add((await silo.GenerateAsync(TestSilo.Request()))[0].JobId);
        var gone = await Assert.ThrowsAsync<RpcException>(() => silo.Client.GetJobAsync(ids[0]));
        Assert.Equal(StatusCode.NotFound, gone.StatusCode);
        Assert.Equal([ids[2], ids[1]], (await silo.Client.ListJobsAsync(new ListJobsRequest())).Jobs.Select(j => j.Id));
    }

    [Fact]
    public async Task Image_bytes_beyond_the_store_budget_are_dropped_oldest_first()
    {
        int pngBytes = ScriptedExecutor.ExpectedPng(32, 32, 42).Length;
        await using var silo = await TestSilo.StartAsync(new SiloHostOptions { MaxImageBytes = pngBytes * 2 + 10 });
        var images = new List<string>();
        for (int i = 0; i < 3; i++) images.Add((await silo.GenerateAsync(TestSilo.Request()))[^1].Finished.Images[0].Id);
        var dropped = await Assert.ThrowsAsync<RpcException>(() => silo.Client.DownloadImageAsync(images[0]));
        Assert.Equal(StatusCode.NotFound, dropped.StatusCode);
        Assert.Contains("was dropped from the store", dropped.Status.Detail);
        // Its finished event let go of the (inline) bytes too.
        Assert.True((await silo.WatchAsync(images[0][..images[0].LastIndexOf('_')]))[^1].Finished.Images[0].Data.IsEmpty);
        Assert.Equal(ScriptedExecutor.ExpectedPng(32, 32, 42), (await silo.Client.DownloadImageAsync(images[2])).Data);
    }

    [Fact]
    public async Task Previews_count_toward_the_store_budget_and_go_from_the_events_with_the_images()
    {
        int pngBytes = ScriptedExecutor.ExpectedPng(32, 32, 42).Length;
        int previewBytes = Enumerable.Range(1, 3).Sum(step => ScriptedExecutor.ExpectedPreview(step).Length);
        // Room for two jobs' images, but not for their previews as well.
        Assert.True(2 * pngBytes < 2 * (pngBytes + previewBytes) && pngBytes + previewBytes <= 2 * pngBytes);
        await using var silo = await TestSilo.StartAsync(new SiloHostOptions { MaxImageBytes = 2 * pngBytes });
        var request = TestSilo.Request();
        request.PreviewInterval = 1;
        var first = await silo.GenerateAsync(request);
        var second = await silo.GenerateAsync(request);
        string[] withPreviews = ["queued 0", "stage Tokenize", "stage Encode", "stage Denoise", "step 1/3 preview", "step 2/3 preview", "step 3/3 preview", "stage Decode", "finished 1"];
        Assert.Equal(withPreviews, first.Select(Describe));
        Assert.Equal(ScriptedExecutor.ExpectedPng(32, 32, 42), first[^1].Finished.Images[0].Data.ToByteArray());

        // The first job lost its bytes: GetImage, the replayed finished event and the step events no longer have them.
        var dropped = await Assert.ThrowsAsync<RpcException>(() => silo.Client.DownloadImageAsync(first[^1].Finished.Images[0].Id));
        Assert.Equal(StatusCode.NotFound, dropped.StatusCode);
        var replay = await silo.WatchAsync(first[0].JobId);
        Assert.Equal(["queued 0", "stage Tokenize", "stage Encode", "stage Denoise", "step 1/3", "step 2/3", "step 3/3", "stage Decode", "finished 1"],
            replay.Select(Describe));
        Assert.Equal(first.Select(e => e.Sequence), replay.Select(e => e.Sequence));
        var image = replay[^1].Finished.Images[0];
        Assert.Equal((true, (ulong)pngBytes), (image.Data.IsEmpty, image.SizeBytes));

        // The newer job keeps everything.
        var kept = await silo.WatchAsync(second[0].JobId);
        Assert.Equal(withPreviews, kept.Select(Describe));
        Assert.Equal(ScriptedExecutor.ExpectedPreview(2), kept[5].Step.Preview.Data.ToByteArray());
        Assert.Equal(ScriptedExecutor.ExpectedPng(32, 32, 42), kept[^1].Finished.Images[0].Data.ToByteArray());
    }

    [Fact]
    public async Task A_full_queue_is_resource_exhausted()
    {
        var executor = new ScriptedExecutor { Gate = new(TaskCreationOptions.RunContinuationsAsynchronously) };
        await using var silo = await TestSilo.StartAsync(new SiloHostOptions { MaxQueuedJobs = 1 }, executor);
        await silo.Client.SubmitAsync(TestSilo.Request());
        await executor.Started.Task.WaitAsync(TimeSpan.FromSeconds(5));
        await silo.Client.SubmitAsync(TestSilo.Request());
        var full = await Assert.ThrowsAsync<RpcException>(() => silo.Client.SubmitAsync(TestSilo.Request()));
        // No job has ended yet, so one is taken to last a second: room opens when the running one ends.
        Assert.Equal((StatusCode.ResourceExhausted, "the job queue is full (1 jobs waiting); try again in 1 s"), (full.StatusCode, full.Status.Detail));
        Assert.Equal("1000", full.Trailers.GetValue(JobScheduler.RetryPushbackTrailer));
    }

    [Fact]
    public async Task One_client_may_have_only_so_many_jobs_waiting_and_is_told_when_to_try_again()
    {
        var executor = new ScriptedExecutor { Gate = new(TaskCreationOptions.RunContinuationsAsynchronously) };
        await using var silo = await TestSilo.StartAsync(new SiloHostOptions { MaxQueuedJobs = 10, MaxQueuedJobsPerClient = 2 }, executor);
        Task<SubmitResponse> Submit(string? client) => silo.Client.Api.SubmitAsync(TestSilo.Request(),
            client is null ? new Metadata() : new Metadata { { GenerationService.ClientIdHeader, client } }).ResponseAsync;

        await Submit("alice");
        await executor.Started.Task.WaitAsync(TimeSpan.FromSeconds(5)); // running: no longer waiting
        await Submit("alice");
        await Submit("alice");
        var refused = await Assert.ThrowsAsync<RpcException>(() => Submit("alice"));
        // Alice's first waiting job is next: room for her opens when the running job ends.
        Assert.Equal((StatusCode.ResourceExhausted, "client alice has 2 jobs waiting, as many as one client may (jobs.client_queue_capacity 2); try again in 1 s"),
            (refused.StatusCode, refused.Status.Detail));
        Assert.Equal("1000", refused.Trailers.GetValue(JobScheduler.RetryPushbackTrailer));

        // Another client is not held up by her; its own limit counts its own jobs, behind hers.
        await Submit("bob");
        await Submit("bob");
        refused = await Assert.ThrowsAsync<RpcException>(() => Submit("bob"));
        Assert.Equal(("client bob has 2 jobs waiting, as many as one client may (jobs.client_queue_capacity 2); try again in 3 s", "3000"),
            (refused.Status.Detail, refused.Trailers.GetValue(JobScheduler.RetryPushbackTrailer)));
        // Without a client id, a client is its address.
        await Submit(null);
        await Submit(null);
        refused = await Assert.ThrowsAsync<RpcException>(() => Submit(null));
        Assert.StartsWith("client at 127.0.0.1 has 2 jobs waiting", refused.Status.Detail);
        var bad = await Assert.ThrowsAsync<RpcException>(() => Submit("two words"));
        Assert.Equal((StatusCode.InvalidArgument, "sd3mesh-client-id: 1..64 printable ASCII characters without spaces; got 9 characters"),
            (bad.StatusCode, bad.Status.Detail));

        // A cancelled waiting job frees its client's room at once.
        var jobs = (await silo.Client.ListJobsAsync(new ListJobsRequest { States = { JobState.Queued } })).Jobs;
        Assert.Equal(6, jobs.Count);
        await silo.Client.CancelAsync(jobs.Last().Id); // alice's oldest waiting job
        await Submit("alice");
        executor.Gate.SetResult();
    }

    [Fact]
    public async Task Stopping_the_silo_cancels_jobs_and_ends_their_streams()
    {
        var executor = new ScriptedExecutor { Gate = new(TaskCreationOptions.RunContinuationsAsynchronously) };
        var silo = await TestSilo.StartAsync(executor: executor);
        var generate = silo.GenerateAsync(TestSilo.Request());
        await executor.Started.Task.WaitAsync(TimeSpan.FromSeconds(5));
        await silo.Host.StopAsync().WaitAsync(TimeSpan.FromSeconds(10));
        var events = await generate.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal("cancelled: the server is shutting down", Describe(events[^1]));
        await silo.DisposeAsync();
    }

    [Fact]
    public async Task A_stopping_silo_is_not_serving_refuses_jobs_and_waits_for_the_running_one_within_the_drain_timeout()
    {
        var executor = new SlowToCancelExecutor();
        await using var silo = await TestSilo.StartWithAsync(executor);
        var health = new global::Grpc.Health.V1.Health.HealthClient(silo.Channel);
        async Task<global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus> Status(string service) =>
            (await health.CheckAsync(new global::Grpc.Health.V1.HealthCheckRequest { Service = service })).Status;
        Assert.Equal(global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, await Status("sd3mesh.v1.Generation"));

        var job = await silo.Client.SubmitAsync(TestSilo.Request());
        await executor.Started.Task.WaitAsync(TimeSpan.FromSeconds(5));
        var stop = silo.Host.StopAsync();
        // The job is cancelled at once; its executor has not returned, so the endpoint still answers meanwhile.
        Assert.Equal("cancelled: the server is shutting down", Describe((await silo.WatchAsync(job.JobId))[^1]));
        Assert.Equal(global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.NotServing, await Status(""));
        Assert.Equal(global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.NotServing, await Status("sd3mesh.v1.Generation"));
        var refused = await Assert.ThrowsAsync<RpcException>(() => silo.Client.SubmitAsync(TestSilo.Request()));
        Assert.Equal((StatusCode.Unavailable, "the server is shutting down and accepts no new jobs"), (refused.StatusCode, refused.Status.Detail));
        Assert.False(stop.IsCompleted);

        executor.Gate.SetResult();
        await stop.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_silo_whose_executor_never_returns_still_stops_within_the_drain_timeout()
    {
        var executor = new SlowToCancelExecutor();
        await using var silo = await TestSilo.StartWithAsync(executor, options: new SiloHostOptions { DrainTimeout = TimeSpan.FromMilliseconds(500) });
        await silo.Client.SubmitAsync(TestSilo.Request());
        await executor.Started.Task.WaitAsync(TimeSpan.FromSeconds(5));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await silo.Host.StopAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(5));
        executor.Gate.SetResult();
    }
}
