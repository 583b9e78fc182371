using Google.Protobuf;
using Sd3Mesh.Models;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Imaging;
using Sd3Mesh.Pipeline.IO;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Pipeline.Vae;
using Grpc.Core;
using Sd3Mesh.Protos;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Server.Cluster;
using Sd3Mesh.Server.Tests.Grpc;
using Sd3Mesh.Server.Jobs;
using Sd3Mesh.Tensors;
using E = Sd3Mesh.Protos.V1.JobEvent.EventOneofCase;
using PipelineRequest = Sd3Mesh.Pipeline.GenerationRequest;

namespace Sd3Mesh.Server.Tests;

/// <summary>
/// Passes jobs to another executor, and can hold a job's worker right after step <see cref="HoldAfterStep"/>
/// (its event already sent) until <see cref="Resume"/>: the moment a test acts on a running job, free of races.
/// </summary>
public sealed class HoldingExecutor(IJobExecutor inner) : IJobExecutor
{
    private readonly SemaphoreSlim _resume = new(0);

    public Sd3ModelConfig? Model => inner.Model;
    public int? HoldAfterStep { get; set; }
    public TaskCompletionSource Held { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Resume()
    {
        HoldAfterStep = null;
        Held = new(TaskCreationOptions.RunContinuationsAsynchronously);
        _resume.Release();
    }

    public Task<IReadOnlyList<JobImage>> ExecuteAsync(GenerationSpec spec, IJobProgress progress, CancellationToken cancellationToken) =>
        inner.ExecuteAsync(spec, new Holding(this, progress), cancellationToken);

    private sealed class Holding(HoldingExecutor owner, IJobProgress progress) : IJobProgress
    {
        public void StageStarted(PipelineStage stage) => progress.StageStarted(stage);

        public void StepCompleted(int step, int totalSteps, JobPreview? preview = null, Tensors.Tensor? checkpoint = null)
        {
            progress.StepCompleted(step, totalSteps, preview, checkpoint);
            if (step != owner.HoldAfterStep) return;
            owner.Held.TrySetResult();
            owner._resume.Wait(TimeSpan.FromSeconds(30)); // the pipeline calls back on its worker thread
        }
    }
}

/// <summary>
/// The tiny seeded models in a temporary folder, served by a silo with the real pipeline executor; and a
/// second, independent one-process pipeline on the same folder as the reference.
/// </summary>
public sealed class TinyServingFixture : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "sd3mesh-serve-tests-" + Guid.NewGuid().ToString("N")[..8]);

    public HoldingExecutor Holding { get; private set; } = null!;
    public TestSilo Silo { get; private set; } = null!;
    public OnnxSd3Model Local { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        ModelZoo.Create("tiny", DType.Float32, 0, _directory);
        var config = EmbeddedCluster.Config(new ModelSpec(_directory, null), Onnx.Device.Cpu);
        Silo = await TestSilo.StartAsync(ClusterSilo.Create(config, "local", decorate: e => Holding = new HoldingExecutor(e)));
        Local = OnnxSd3Model.Open(_directory, Onnx.Device.Cpu);
    }

    public async Task DisposeAsync()
    {
        await Silo.DisposeAsync();
        Local.Dispose();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    /// <summary>The request on the wire and its equivalent for the local pipeline.</summary>
    public static (GenerateRequest Wire, PipelineRequest Local) Request(uint steps = 4, ulong seed = 42) =>
        (new GenerateRequest { Prompt = "a photo of a cat", Width = 64, Height = 64, Steps = steps, Seed = seed },
         new PipelineRequest { Prompt = "a photo of a cat", Width = 64, Height = 64, Steps = (int)steps, Seeds = [seed] });

    /// <summary>The local pipeline's result, with a copy of the latents after every step.</summary>
    public async Task<(GenerationResult Result, List<Tensor> StepLatents)> LocalAsync(PipelineRequest request)
    {
        var steps = new List<Tensor>();
        var result = await new Sd3Pipeline(Local.Components).GenerateAsync(request, p =>
        {
            if (p.Latents is { } latents) steps.Add(latents.Clone());
        }, latentsAt: _ => true);
        return (result, steps);
    }
}

/// <summary>`sd3mesh serve` end to end: a one-silo cluster running the tiny models on its grains, over gRPC.</summary>
public class PipelineServingTests(TinyServingFixture tiny) : IClassFixture<TinyServingFixture>
{
    private TestSilo Silo => tiny.Silo;

    [Fact]
    public async Task Generate_streams_the_stages_every_step_and_a_png_identical_to_the_local_pipelines()
    {
        var (wire, local) = TinyServingFixture.Request();
        wire.PreviewInterval = 2;
        var events = await Silo.GenerateAsync(wire);

        Assert.Equal(["queued 0", "stage Tokenize", "stage Encode", "stage Denoise", "step 1/4", "step 2/4 preview", "step 3/4", "step 4/4 preview",
            "stage Decode", "finished 1"], events.Select(JobFlowTests.Describe));
        var image = Assert.Single(events[^1].Finished.Images);
        Assert.Equal(("image/png", 64u, 64u, 42UL), (image.MediaType, image.Width, image.Height, image.Seed));
        var png = image.Data.ToByteArray();
        var decoded = PngDecoder.Decode(png);
        Assert.Equal((64, 64), (decoded.Image.Width, decoded.Image.Height));
        Assert.Equal(("a photo of a cat", "42", "4", "tiny-fp32-seed0"), (decoded.Text["prompt"], decoded.Text["seed"], decoded.Text["steps"], decoded.Text["model"]));

        // Determinism across the two paths: the same bytes as the one-process pipeline, metadata included.
        var (reference, stepLatents) = await tiny.LocalAsync(local);
        Assert.Equal(reference.Images[0].ToPng(), png);

        // The previews are the latents after steps 2 and 4, through the map fitted on the model's own VAE.
        var map = await LatentPreview.FitAsync(tiny.Local.Components.VaeDecoder, tiny.Local.Components.Model);
        foreach (var (e, step) in new[] { (events[5], 2), (events[7], 4) })
        {
            var preview = e.Step.Preview;
            Assert.Equal(("image/png", 8u, 8u), (preview.MediaType, preview.Width, preview.Height));
            Assert.Equal(map.RenderPng(stepLatents[step - 1]), preview.Data.ToByteArray());
        }
    }

    [Fact]
    public async Task Latent_output_is_one_npy_per_image_equal_to_the_local_latents()
    {
        var (wire, local) = TinyServingFixture.Request(steps: 2);
        wire.ClearSeed();
        wire.Seeds.Add([5, 9]);
        wire.OutputType = Protos.V1.OutputType.Latent;
        var events = await Silo.GenerateAsync(wire);
        Assert.DoesNotContain("stage Decode", events.Select(JobFlowTests.Describe));
        var images = events[^1].Finished.Images;
        Assert.Equal([5UL, 9UL], images.Select(i => i.Seed));

        var (reference, _) = await tiny.LocalAsync(local with { Seeds = [5, 9], Count = 2, OutputType = Pipeline.OutputType.Latent });
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(("application/x-npy", 64u, 64u), (images[i].MediaType, images[i].Width, images[i].Height));
            var latents = NpyFile.Read(images[i].Data.Span);
            Assert.Equal(new TensorShape(16, 8, 8), latents.Shape);
            Assert.Equal(reference.Latents.Slice0(i, 1).ToArray<float>(), latents.ToArray<float>());
        }
    }

    [Fact]
    public async Task Cancelling_mid_job_ends_it_cancelled_and_the_next_job_still_succeeds()
    {
        var (wire, _) = TinyServingFixture.Request(steps: 1000);
        tiny.Holding.HoldAfterStep = 1;
        var submitted = await Silo.Client.SubmitAsync(wire);
        await tiny.Holding.Held.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var cancel = await Silo.Client.CancelAsync(submitted.JobId);
        Assert.Equal((true, JobState.Cancelled), (cancel.Cancelled, cancel.State));
        tiny.Holding.Resume(); // the pipeline sees the token before step 2

        var events = await Silo.WatchAsync(submitted.JobId);
        Assert.Equal(["queued 0", "stage Tokenize", "stage Encode", "stage Denoise", "step 1/1000", "cancelled: cancelled by a client"],
            events.Select(JobFlowTests.Describe));
        Assert.Equal(JobState.Cancelled, (await Silo.Client.GetJobAsync(submitted.JobId)).State);

        // The model is still usable: the next job gives the reference bytes.
        var (next, local) = TinyServingFixture.Request();
        var finished = (await Silo.GenerateAsync(next))[^1];
        Assert.Equal(E.Finished, finished.EventCase);
        Assert.Equal((await tiny.LocalAsync(local)).Result.Images[0].ToPng(), finished.Finished.Images[0].Data.ToByteArray());
    }

    [Fact]
    public async Task Invalid_requests_are_refused_before_queueing_with_the_serving_models_limits()
    {
        int jobsBefore = (await Silo.Client.ListJobsAsync(new ListJobsRequest { PageSize = 500 })).Jobs.Count;
        var (wire, _) = TinyServingFixture.Request();
        wire.ClipSkip = 2; // the tiny CLIP encoders have 2 layers: clip_skip 0..1
        wire.Steps = 0;
        var error = await Assert.ThrowsAsync<RpcException>(() => Silo.GenerateAsync(wire));
        Assert.Equal((StatusCode.InvalidArgument, "invalid GenerateRequest: steps: 0 is outside the allowed range 1..1000; " +
            "clip_skip: 2 is outside the allowed range 0..1 for this model's CLIP encoders"), (error.StatusCode, error.Status.Detail));
        Assert.Equal(jobsBefore, (await Silo.Client.ListJobsAsync(new ListJobsRequest { PageSize = 500 })).Jobs.Count);
    }

    [Fact]
    public async Task The_cluster_service_reports_each_grain_on_its_silo_and_device()
    {
        await Silo.GenerateAsync(TinyServingFixture.Request(steps: 2).Wire);
        var grains = (await new Protos.V1.Cluster.ClusterClient(Silo.Channel).ListGrainsAsync(new ListGrainsRequest())).Grains.ToDictionary(g => g.Submodule);
        Assert.Equal(["text_encoder", "text_encoder_2", "text_encoder_3", "transformer", "vae"], grains.Keys.Order());
        Assert.All(grains.Values, g => Assert.Equal(("cpu:0", "local"), (g.Device, g.SiloId)));
        var transformer = grains["transformer"];
        Assert.Equal(("tiny-fp32-seed0/transformer@cpu:0", GrainState.Active, 1u), (transformer.Key, transformer.State, transformer.Loads));
        Assert.True(transformer.Calls >= 2, $"{transformer.Calls} transformer calls");
        Assert.True(transformer.MeanLatencyMs > 0 && transformer.P95LatencyMs >= transformer.MeanLatencyMs / 10);
        Assert.True(transformer.WeightBytes > 0);
        Assert.InRange(transformer.LastUsed.ToDateTime(), DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow);
        var silo = Assert.Single((await new Protos.V1.Cluster.ClusterClient(Silo.Channel).ListSilosAsync(new ListSilosRequest())).Silos);
        Assert.Equal(("local", SiloStatus.Active, true, "cpu:0"), (silo.Id, silo.Status, silo.Primary, Assert.Single(silo.Devices)));
        var device = Assert.Single((await new Protos.V1.Cluster.ClusterClient(Silo.Channel).ListDevicesAsync(new ListDevicesRequest())).Devices);
        Assert.Equal(("cpu:0", "cpu", "local"), (device.Name, device.Kind, device.SiloId));
        Assert.True(device.WeightsLoadedBytes >= transformer.WeightBytes);
    }

    [Fact]
    public async Task A_grpcio_client_generates_and_gets_the_png_bytes()
    {
        var descriptors = Path.Combine(Path.GetTempPath(), $"sd3mesh-generation-{Guid.NewGuid():N}.pb");
        File.WriteAllBytes(descriptors, DescriptorSets.Of(GenerationReflection.Descriptor));
        try
        {
            var result = await PythonProcess.RunForJsonAsync(PythonProcess.Script("generation_client.py"), descriptors,
                $"127.0.0.1:{Silo.Host.Address.Port}", "a photo of a cat", "64", "64", "4", "42");
            Assert.Equal(["queued", "stage_started:STAGE_TOKENIZE", "stage_started:STAGE_ENCODE", "stage_started:STAGE_DENOISE",
                "step:1/4", "step:2/4", "step:3/4", "step:4/4", "stage_started:STAGE_DECODE", "finished"],
                result.GetProperty("events").EnumerateArray().Select(e => e.GetString()));
            var image = Assert.Single(result.GetProperty("images").EnumerateArray().ToList());
            Assert.Equal(("image/png", 42UL, 64, 64), (image.GetProperty("media_type").GetString(), image.GetProperty("seed").GetUInt64(),
                image.GetProperty("width").GetInt32(), image.GetProperty("height").GetInt32()));
            var (_, local) = TinyServingFixture.Request();
            Assert.Equal((await tiny.LocalAsync(local)).Result.Images[0].ToPng(), Convert.FromBase64String(image.GetProperty("data").GetString()!));
        }
        finally
        {
            File.Delete(descriptors);
        }
    }
}

