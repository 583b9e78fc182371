using Sd3Mesh.Pipeline;
using Sd3Mesh.Runtime.Grains;
using Sd3Mesh.Runtime.Jobs;

namespace Sd3Mesh.Runtime.Tests;

[Collection(GrainClusterCollection.Name)]
public sealed class JobFlowTests(GrainClusterFixture fixture)
{
    [Fact]
    public async Task A_job_through_the_grains_gives_the_one_process_pipelines_png_byte_for_byte()
    {
        var observer = new RecordingObserver();
        var outputs = await TestClusters.RunAsync(fixture.Client, TestClusters.Request(), observer: observer, previewInterval: 2);

        var local = await new Sd3Pipeline(fixture.Local.Components).GenerateAsync(TestClusters.Request());
        var output = Assert.Single(outputs);
        Assert.Equal((JobOutput.Png, 64, 64, 42UL), (output.MediaType, output.Width, output.Height, output.Seed));
        Assert.Equal(local.Images[0].ToPng(), output.Data);

        // Progress: every stage in order, every step, previews on steps 2 and 4.
        await TestClusters.WaitForAsync(() => observer.Events.Count(e => e.IsStep) == 4, TimeSpan.FromSeconds(5), "4 step events");
        Assert.Equal(Enum.GetValues<PipelineStage>(), observer.Events.Where(e => !e.IsStep && !e.SpansOnly).Select(e => e.Stage));
        Assert.Equal([2, 4], observer.Events.Where(e => e.PreviewPng is not null).Select(e => e.Step));

        // The timeline: the last event carries only spans; together the events carry every stage on the coordinator's
        // lane, every stage call on its grain's lane (T5 on s1's device), one span per transformer step.
        Assert.True(observer.Events[^1].SpansOnly);
        var spans = observer.Events.SelectMany(e => e.Spans).ToList();
        Assert.Equal(["check_inputs", "encode_prompt", "prepare_timesteps", "prepare_latents", "denoise", "decode", "postprocess"],
            spans.Where(s => s.Kind == Tracing.SpanKind.Stage && s.Name != "fit_preview").OrderBy(s => s.StartMicros).Select(s => s.Name));
        // fit_preview too, before them, when this job was the first on its silo to ask for previews (the cluster is shared).
        Assert.All(spans.Where(s => s.Name == "fit_preview"), s => Assert.True(s.StartMicros <= spans.Single(c => c.Name == "check_inputs").StartMicros));
        Assert.All(spans.Where(s => s.Kind == Tracing.SpanKind.Stage), s => Assert.Equal(("coordinator@cpu:0", "s0"), (s.Lane, s.Silo)));
        var steps = spans.Where(s => s.Name == "step").ToList();
        Assert.Equal([1, 2, 3, 4], steps.Select(s => s.Step).Order());
        Assert.All(steps, s => Assert.Equal(("transformer@cpu:0", "s0", Tracing.SpanKind.Call), (s.Lane, s.Silo, s.Kind)));
        Assert.Contains(spans, s => (s.Lane, s.Silo, s.Name) == ("text_encoder_3@cpu:1", "s1", "encode"));
        Assert.Contains(spans, s => (s.Lane, s.Name) == ("vae@cpu:0", "decode"));
        var denoise = spans.Single(s => s.Name == "denoise");
        Assert.All(steps, s => Assert.InRange(s.StartMicros, denoise.StartMicros, denoise.StartMicros + denoise.DurationMicros));
        Assert.All(spans, s => Assert.True(s.DurationMicros >= 0 && s.Error is null, $"{s}"));
    }

    [Fact]
    public async Task Each_submodule_runs_on_the_silo_that_owns_its_device()
    {
        await TestClusters.RunAsync(fixture.Client, TestClusters.Request("a red barn", output: OutputType.Latent));
        var t5 = await fixture.Client.GetGrain<IT5EncoderGrain>("tiny-fp32-seed0/text_encoder_3@cpu:1").Report();
        var transformer = await fixture.Client.GetGrain<ITransformerGrain>("tiny-fp32-seed0/transformer@cpu:0").Report();
        Assert.Equal(("s1", "cpu:1", SessionState.Active), (t5.Silo, t5.Device, t5.State));
        Assert.Equal(("s0", "cpu:0", SessionState.Active), (transformer.Silo, transformer.Device, transformer.State));
        Assert.True(t5.Calls >= 2); // prompt and negative prompt
        Assert.True(transformer.Calls >= 4 + 2); // begin, 4 steps, read, ...

        // Each device's report grain answers for the grains on it, from its silo's GrainReports (no call to the grains).
        var onCpu1 = await fixture.Client.GetGrain<IDeviceReportGrain>(IDeviceReportGrain.KeyOf(Onnx.Device.Parse("cpu:1"))).Grains();
        var t5Again = Assert.Single(onCpu1);
        Assert.Equal((t5.Key, "s1", t5.Calls, SessionState.Active, false), (t5Again.Key, t5Again.Silo, t5Again.Calls, t5Again.State, t5Again.Deactivated));
        var onCpu0 = await fixture.Client.GetGrain<IDeviceReportGrain>(IDeviceReportGrain.KeyOf(Onnx.Device.Parse("cpu:0"))).Grains();
        Assert.Equal(["text_encoder", "text_encoder_2", "transformer", "vae"], onCpu0.Select(r => r.Submodule));
    }
}
