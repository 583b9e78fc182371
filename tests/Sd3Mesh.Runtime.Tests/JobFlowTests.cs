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
        Assert.Equal(Enum.GetValues<PipelineStage>(), observer.Events.Where(e => !e.IsStep).Select(e => e.Stage));
        Assert.Equal([2, 4], observer.Events.Where(e => e.PreviewPng is not null).Select(e => e.Step));
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
    }
}
