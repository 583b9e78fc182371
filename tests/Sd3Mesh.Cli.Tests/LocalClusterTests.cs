using System.Diagnostics;
using Grpc.Core;
using Sd3Mesh.Protos;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Tests;
using Sd3Mesh.Server.Tests.Grpc;
using E = Sd3Mesh.Protos.V1.JobEvent.EventOneofCase;
using PipelineRequest = Sd3Mesh.Pipeline.GenerationRequest;

namespace Sd3Mesh.Cli.Tests;

/// <summary>
/// `cluster up` on cluster/local-2cpu.json: T5 in a silo process of its own (cpu:1), the rest in the primary's
/// (cpu:0). Kestrel's request lines are logged, so a silo's log shows the tensors other silos pulled from it.
/// </summary>
public sealed class LocalClusterFixture : IAsyncLifetime
{
    public TinyModels Models { get; } = new();
    public ClusterUp Cluster { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Cluster = await ClusterUp.StartAsync("local-2cpu.json", Models.Folder,
            environment: new Dictionary<string, string> { ["Logging__LogLevel__Microsoft.AspNetCore.Hosting.Diagnostics"] = "Information" });

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        Models.Dispose();
    }
}

/// <summary>Jobs on a two-process cluster from grpc-dotnet and grpcio, placement, cancel, and a silo killed (last: it breaks the cluster).</summary>
[TestCaseOrderer(ByOrder.Name, ByOrder.Assembly)]
public sealed class LocalClusterTests(LocalClusterFixture fixture) : IClassFixture<LocalClusterFixture>
{
    private ClusterUp Cluster => fixture.Cluster;
    private GenerationTestClient Client => new(Cluster.Channel);

    private static (GenerateRequest Wire, PipelineRequest Local) Request(string prompt = "a photo of a cat", uint steps = 4, ulong seed = 42,
        uint maxSequenceLength = 256) =>
        (new GenerateRequest { Prompt = prompt, Width = 64, Height = 64, Steps = steps, Seed = seed, MaxSequenceLength = maxSequenceLength },
         new PipelineRequest { Prompt = prompt, Width = 64, Height = 64, Steps = (int)steps, Seeds = [seed], MaxSequenceLength = (int)maxSequenceLength });

    private string TensorFetchesFromT5Silo => $"POST http://127.0.0.1:{Cluster.Port("silo1", "grpc_port")}/sd3mesh.v1.TensorTransport/Fetch";

    [Fact, Order(1)]
    public async Task A_job_from_grpc_dotnet_gives_the_one_process_png_with_t5s_output_pulled_over_the_tensor_transport()
    {
        // T5's output at 512 tokens (512 x 64 fp32 = 128 KiB) is over the 64 KiB that travels inside an Orleans message:
        // the primary pulls it from silo1's store over gRPC. No job has run yet, so nothing has been pulled.
        Assert.DoesNotContain(TensorFetchesFromT5Silo, Cluster.Log("silo1"));
        var (wire, local) = Request(maxSequenceLength: 512);
        var events = await Client.GenerateAsync(wire);

        Assert.Equal(["queued 0", "stage Tokenize", "stage Encode", "stage Denoise", "step 1/4", "step 2/4", "step 3/4", "step 4/4",
            "stage Decode", "finished 1"], events.Select(Describe));
        var image = Assert.Single(events[^1].Finished.Images);
        Assert.Equal(await fixture.Models.LocalPngAsync(local), image.Data.ToByteArray());
        Assert.Contains(TensorFetchesFromT5Silo, Cluster.Log("silo1"));
    }

    [Fact, Order(2)]
    public async Task Placement_shows_t5_on_the_second_silos_cpu1_and_the_rest_on_the_primarys_cpu0()
    {
        await Client.GenerateAsync(Request(steps: 2).Wire); // every grain has been called at least once

        var (code, output) = await CliProcess.RunAsync(["placement", "--server", Cluster.Api.ToString()]);
        Assert.True(code == 0, output);
        var rows = TableRows(output);
        foreach (var (submodule, silo, device) in new[]
                 {
                     ("text_encoder", "silo0", "cpu:0"), ("text_encoder_2", "silo0", "cpu:0"), ("text_encoder_3", "silo1", "cpu:1"),
                     ("transformer", "silo0", "cpu:0"), ("vae", "silo0", "cpu:0"),
                 })
            Assert.Equal((silo, device, "active"), (rows[submodule][1], rows[submodule][2], rows[submodule][3]));
        Assert.Equal("silo0 (active)", rows["cpu:0"][1]);
        Assert.Equal("silo1 (active)", rows["cpu:1"][1]);
        Assert.Contains("model tiny-fp32-seed0", output);

        // The same from the Cluster API: T5 ran on silo1 for the prompt and the negative prompt of each job.
        var grains = (await new Protos.V1.Cluster.ClusterClient(Cluster.Channel).ListGrainsAsync(new ListGrainsRequest())).Grains;
        var t5 = Assert.Single(grains, g => g.Submodule == "text_encoder_3");
        Assert.Equal(("silo1", "cpu:1", GrainState.Active), (t5.SiloId, t5.Device, t5.State));
        Assert.True(t5.Calls >= 2, $"{t5.Calls} T5 calls");
        Assert.True(ulong.Parse(rows["text_encoder_3"][4]) >= 2);

        // The dashboard on the primary's web_port (cluster up prints its URL) draws T5 in cpu:1's box, activated on
        // silo1's process, from that process's reports.
        int web = Cluster.Port("silo0", "web_port");
        await Cluster.Process.WaitForOutputAsync($"dashboard: http://127.0.0.1:{web}/", TimeSpan.FromSeconds(10));
        using var http = new HttpClient();
        using var picture = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{web}/api/cluster"));
        var box = picture.RootElement.GetProperty("devices").EnumerateArray().Single(d => d.GetProperty("name").GetString() == "cpu:1");
        var grain = Assert.Single(box.GetProperty("grains").EnumerateArray().ToList());
        Assert.Equal(("silo1", "text_encoder_3", "active", "silo1", t5.Calls),
            (box.GetProperty("silo").GetString(), grain.GetProperty("name").GetString(), grain.GetProperty("state").GetString(),
             grain.GetProperty("activatedOn").GetString(), grain.GetProperty("calls").GetUInt64()));
    }

    [Fact, Order(3)]
    public async Task A_grpcio_client_gets_the_one_process_png()
    {
        var descriptors = Path.Combine(Cluster.Root, "generation.pb");
        File.WriteAllBytes(descriptors, DescriptorSets.Of(GenerationReflection.Descriptor));
        var result = await PythonProcess.RunForJsonAsync(PythonProcess.Script("generation_client.py"), descriptors,
            $"127.0.0.1:{Cluster.Api.Port}", "a red fox in the snow", "64", "64", "3", "7");
        Assert.Equal(["queued", "stage_started:STAGE_TOKENIZE", "stage_started:STAGE_ENCODE", "stage_started:STAGE_DENOISE",
            "step:1/3", "step:2/3", "step:3/3", "stage_started:STAGE_DECODE", "finished"],
            result.GetProperty("events").EnumerateArray().Select(e => e.GetString()));
        var image = Assert.Single(result.GetProperty("images").EnumerateArray().ToList());
        Assert.Equal(7UL, image.GetProperty("seed").GetUInt64());
        Assert.Equal(await fixture.Models.LocalPngAsync(Request("a red fox in the snow", steps: 3, seed: 7).Local),
            Convert.FromBase64String(image.GetProperty("data").GetString()!));
    }

    [Fact, Order(4)]
    public async Task Cancel_stops_the_job_and_its_transformer_grain_between_steps()
    {
        var api = new Protos.V1.Cluster.ClusterClient(Cluster.Channel);
        async Task<ulong> TransformerCalls() =>
            (await api.ListGrainsAsync(new ListGrainsRequest())).Grains.Single(g => g.Submodule == "transformer").Calls;
        ulong before = await TransformerCalls();

        var submitted = await Client.SubmitAsync(Request(steps: 1000).Wire);
        var events = new List<JobEvent>();
        using (var watch = Client.Api.Watch(new WatchRequest { JobId = submitted.JobId }))
        {
            bool cancelled = false;
            await foreach (var e in watch.ResponseStream.ReadAllAsync())
            {
                events.Add(e);
                if (!cancelled && e.EventCase == E.Step && e.Step.Step == 2)
                {
                    Assert.True((await Client.CancelAsync(submitted.JobId)).Cancelled);
                    cancelled = true;
                }
            }
        }

        Assert.Equal((E.Cancelled, "cancelled by a client"), (events[^1].EventCase, events[^1].Cancelled.Reason));
        int steps = events.Count(e => e.EventCase == E.Step);
        Assert.InRange(steps, 2, 999);
        Assert.Equal(JobState.Cancelled, (await Client.GetJobAsync(submitted.JobId)).State);
        // The job's End reaches the grain just after the stream ended: let it land, then no call may follow.
        await Task.Delay(TimeSpan.FromSeconds(1));
        ulong after = await TransformerCalls();
        // The stream may trail the steps run (a loaded machine), so only: at least those, far from all 1000, then none.
        Assert.InRange(after - before, (ulong)steps, 990UL);
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal(after, await TransformerCalls());
    }

    [Fact, Order(10)]
    public async Task A_job_whose_t5_silo_was_killed_ends_unavailable_naming_the_silo_and_no_silo_outlives_cluster_up()
    {
        int t5 = Cluster.SiloPids["silo1"];
        using (var process = Process.GetProcessById(t5)) process.Kill();
        await Cluster.Process.WaitForOutputAsync("the cluster goes on without silo1", TimeSpan.FromSeconds(30));
        Assert.Contains($"silo silo1 (pid {t5}) exited with code 137 while the cluster was running", Cluster.Process.Output);

        // A prompt no job has encoded, so its T5 embeddings are not in the coordinator's cache: the job needs silo1.
        var events = await Client.GenerateAsync(Request("a lighthouse at dusk").Wire);
        var failed = events[^1];
        Assert.True(failed.EventCase == E.Failed, Describe(failed));
        Assert.True((StatusCode)failed.Failed.Code == StatusCode.Unavailable,
            $"{Describe(failed)}; the primary's errors:\n{string.Join('\n', Cluster.Log("silo0").Split('\n').Where(l => l.Contains(" fail: ")))}");
        Assert.StartsWith("text_encoder_3 is unavailable: its silo silo1 (device cpu:1) does not answer", failed.Failed.Message);
        var job = (await Client.ListJobsAsync(new ListJobsRequest { PageSize = 1 })).Jobs.Single();
        Assert.Equal((JobState.Failed, (int)StatusCode.Unavailable), (job.State, job.Error.Code));

        // `cluster up` killed outright cannot stop its silos: the primary notices its supervisor is gone and stops by itself.
        int primary = Cluster.SiloPids["silo0"];
        Cluster.Process.Signal(9);
        var clock = Stopwatch.StartNew();
        while (ClusterUp.IsRunning(primary) && clock.Elapsed < TimeSpan.FromSeconds(20)) await Task.Delay(100);
        Assert.False(ClusterUp.IsRunning(primary), "the primary silo outlived `cluster up`");
        var log = Cluster.Log("silo0");
        Assert.Contains("(the silo's supervisor) has ended", log);
        Assert.EndsWith("silo silo0 stopped", log.TrimEnd());
    }

    internal static string Describe(JobEvent e) => e.EventCase switch
    {
        E.Queued => $"queued {e.Queued.Position}",
        E.StageStarted => $"stage {e.StageStarted.Stage}",
        E.Step => $"step {e.Step.Step}/{e.Step.TotalSteps}",
        E.Finished => $"finished {e.Finished.Images.Count}",
        E.Failed => $"failed {e.Failed.Code}: {e.Failed.Message}",
        E.Cancelled => $"cancelled: {e.Cancelled.Reason}",
        _ => "?",
    };

    /// <summary>The rows of the tables `placement` prints, by their first cell (a grain's submodule, a device's name).</summary>
    internal static Dictionary<string, string[]> TableRows(string output) =>
        output.Split('\n')
            .Where(l => l.TrimStart().StartsWith('│'))
            .Select(l => l.Trim().Trim('│').Split('│').Select(c => c.Trim()).ToArray())
            .GroupBy(cells => cells[0])
            .ToDictionary(g => g.Key, g => g.First());
}
