using System.Diagnostics;
using System.Text.Json.Nodes;
using Grpc.Core;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Tests;
using E = Sd3Mesh.Protos.V1.JobEvent.EventOneofCase;
using PipelineRequest = Sd3Mesh.Pipeline.GenerationRequest;

namespace Sd3Mesh.Cli.Tests;

/// <summary>
/// `cluster up` on cluster/local-2cpu.json with the transformer (and so each job's coordinator) moved to silo1's cpu:1
/// beside T5, then silo1 killed with SIGKILL in the middle of a job: with fallbacks on the primary's cpu:0 the job
/// resumes there from its last checkpoint and gives the uninterrupted run's PNG; without one it ends UNAVAILABLE naming
/// the lost silo and the transformer.
/// </summary>
public sealed class TransformerFailoverTests(TinyModels models) : IClassFixture<TinyModels>
{
    private const int CheckpointEvery = 4, Steps = 120;

    private static (GenerateRequest Wire, PipelineRequest Local) Request(ulong seed) =>
        (new GenerateRequest { Prompt = "a red fox in the snow", Width = 64, Height = 64, Steps = Steps, Seed = seed, RequestId = $"fox-{seed}" },
         new PipelineRequest { Prompt = "a red fox in the snow", Width = 64, Height = 64, Steps = Steps, Seeds = [seed] });

    private Task<ClusterUp> StartAsync(bool fallback) =>
        ClusterUp.StartAsync("local-2cpu.json", models.Folder, edit: config =>
        {
            config["placement"]!["transformer"] = "cpu:1";
            config["store"]!["checkpoint_every"] = CheckpointEvery;
            if (fallback) config["fallback"] = new JsonObject { ["transformer"] = "cpu:0", ["text_encoder_3"] = "cpu:0" };
        }, environment: new Dictionary<string, string> { ["Logging__LogLevel__Sd3Mesh"] = "Information" });

    /// <summary>Submits the job, reads its events until <paramref name="killAfterStep"/>, kills silo1, then reads the rest.</summary>
    private static async Task<(List<JobEvent> Events, int KilledAfter)> RunAndKillAsync(ClusterUp cluster, GenerateRequest request, int killAfterStep)
    {
        var client = new GenerationTestClient(cluster.Channel);
        string jobId = (await client.SubmitAsync(request)).JobId;
        using var watch = client.Api.Watch(new WatchRequest { JobId = jobId });
        var events = new List<JobEvent>();
        int killedAfter = -1;
        while (await watch.ResponseStream.MoveNext())
        {
            var e = watch.ResponseStream.Current;
            events.Add(e);
            if (killedAfter < 0 && e.EventCase == E.Step && e.Step.Step >= killAfterStep)
            {
                using (var silo1 = Process.GetProcessById(cluster.SiloPids["silo1"])) silo1.Kill(); // SIGKILL: no goodbye
                killedAfter = events.Count;
            }
        }
        Assert.True(killedAfter > 0, "the job ended before silo1 was killed");
        return (events, killedAfter);
    }

    [Fact]
    public async Task A_job_whose_transformer_silo_is_killed_resumes_on_the_fallback_from_its_checkpoint_with_the_uninterrupted_runs_png()
    {
        await using var cluster = await StartAsync(fallback: true);
        var (wire, local) = Request(seed: 5);
        var clock = Stopwatch.StartNew();
        var (events, killedAfter) = await RunAndKillAsync(cluster, wire, killAfterStep: 2 * CheckpointEvery + 1);

        Assert.True(events[^1].EventCase == E.Finished, LocalClusterTests.Describe(events[^1]) + "\n" + cluster.Log("silo0"));
        Assert.Equal(await models.LocalPngAsync(local), Assert.Single(events[^1].Finished.Images).Data.ToByteArray());

        // The new coordinator encoded the prompt again (T5 on its fallback), then went on from the step after a
        // checkpoint, not from step 1: every step from there to the last follows, once.
        var after = events.Skip(killedAfter).Select(LocalClusterTests.Describe).ToList();
        int denoise = after.IndexOf("stage Denoise");
        Assert.True(denoise >= 0, string.Join(", ", after));
        int resumedAt = (int)events[killedAfter + denoise + 1].Step.Step;
        Assert.True(resumedAt > CheckpointEvery && (resumedAt - 1) % CheckpointEvery == 0, $"resumed at step {resumedAt}");
        Assert.Equal(Enumerable.Range(resumedAt, Steps - resumedAt + 1).Select(s => $"step {s}/{Steps}"), after.Skip(denoise + 1).Where(d => d.StartsWith("step ")));
        Assert.Contains($"its coordinator on cpu:1 was lost (SiloUnavailableException); a new one resumes it from its checkpoint after step {resumedAt - 1}",
            cluster.Log("silo0"));
        Assert.Contains("transformer@cpu:1: no active silo owns cpu:1 (silo silo1 is gone); activating it on its fallback cpu:0", cluster.Log("silo0"));
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(60));

        // The transformer now runs on the primary's cpu:0, where it took the job once (Begin) and the steps after the checkpoint.
        var grains = (await new Protos.V1.Cluster.ClusterClient(cluster.Channel).ListGrainsAsync(new ListGrainsRequest())).Grains;
        var transformer = grains.Single(g => g.Submodule == "transformer");
        Assert.Equal(("silo0", "cpu:0", GrainState.Active), (transformer.SiloId, transformer.Device, transformer.State));
        Assert.Equal((ulong)(1 + Steps - resumedAt + 1), transformer.Calls);
    }

    [Fact]
    public async Task Without_a_fallback_the_job_ends_unavailable_naming_the_lost_silo_and_the_transformer()
    {
        await using var cluster = await StartAsync(fallback: false);
        var (events, _) = await RunAndKillAsync(cluster, Request(seed: 6).Wire, killAfterStep: CheckpointEvery + 1);

        Assert.True(events[^1].EventCase == E.Failed, LocalClusterTests.Describe(events[^1]));
        Assert.Equal((int)StatusCode.Unavailable, events[^1].Failed.Code);
        Assert.Matches(@"^transformer is unavailable: the job's coordinator cannot be placed \(cannot place job/\S+ on cpu:1: no active silo owns " +
                       @"cpu:1 \(its owner in the config: silo silo1; no fallback configured; active silos and their devices: silo0: cpu:0\)\)$",
            events[^1].Failed.Message);
        var job = (await new GenerationTestClient(cluster.Channel).ListJobsAsync(new ListJobsRequest())).Jobs.Single();
        Assert.Equal(JobState.Failed, job.State);
    }
}
