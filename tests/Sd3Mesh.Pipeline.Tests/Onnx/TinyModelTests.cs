using Sd3Mesh.Models;
using Sd3Mesh.Pipeline.Guidance;
using Sd3Mesh.Pipeline.Imaging;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Pipeline.Sampling;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Tests.Onnx;

/// <summary>The tiny seeded model, written once for these tests by the model zoo and opened on the CPU.</summary>
public sealed class TinyModelFixture : IDisposable
{
    public TinyModelFixture()
    {
        Directory = Path.Combine(Path.GetTempPath(), "sd3mesh-tests-tiny-" + Guid.NewGuid().ToString("N")[..8]);
        ModelZoo.Create("tiny", DType.Float32, 0, Directory);
        Model = OnnxSd3Model.Open(Directory, Sd3Mesh.Onnx.Device.Cpu);
    }

    public string Directory { get; }
    public OnnxSd3Model Model { get; }

    public void Dispose()
    {
        Model.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

public class TinyModelTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    private static GenerationRequest Request => new()
    {
        Prompt = "a photo of a cat",
        NegativePrompt = "blurry",
        Width = 64,
        Height = 64,
        Steps = 4,
        Seeds = [42],
    };

    [Fact]
    public void Model_dimensions_and_scheduler_come_from_the_repository_configs()
    {
        Assert.Equal(new Sd3ModelConfig
        {
            JointAttentionDim = 64, LatentChannels = 16, PatchSize = 2, SampleSize = 32, PosEmbedMaxSize = 64,
            VaeScaleFactor = 8, ScalingFactor = 1.5305, ShiftFactor = 0.0609, VaeSampleSize = 1024, ClipLayers = 2, Clip2Layers = 2,
        }, tiny.Model.Components.Model);
        Assert.Equal(FlowMatchSchedulerConfig.Sd3Medium, tiny.Model.Components.Scheduler);
    }

    [Fact]
    public async Task Text_to_image_64x64_in_4_steps_end_to_end()
    {
        var pipeline = new Sd3Pipeline(tiny.Model.Components);
        var result = await pipeline.GenerateAsync(Request);
        var image = Assert.Single(result.Images).Image!;
        Assert.Equal((64, 64), (image.Width, image.Height));
        Assert.True(image.Pixels.Distinct().Count() > 50, "random weights still give a varied image");
        Assert.Equal(new TensorShape(1, 16, 8, 8), result.Latents.Shape);
        Assert.True(TensorOps.AllFinite(result.Latents.AsSpan<float>()));
        Assert.Equal(4, result.Timings.Calls("transformer"));
        Assert.Equal("tiny-fp32-seed0", result.Images[0].Metadata.Model);
        // Without prompt_2/prompt_3 the PNG still records what CLIP-G and T5 saw: the prompt.
        var text = PngDecoder.Decode(result.Images[0].ToPng()).Text;
        Assert.Equal((Request.Prompt, Request.Prompt), (text["prompt_2"], text["prompt_3"]));
        Assert.True(tiny.Model.Clock.Run("transformer") > TimeSpan.Zero);

        // Deterministic: the same request gives the same pixels; batched and split guidance agree closely.
        var again = await new Sd3Pipeline(tiny.Model.Components).GenerateAsync(Request);
        Assert.Equal(image.Pixels, again.Images[0].Image!.Pixels);
        var split = await pipeline.GenerateAsync(Request with { CfgMode = CfgMode.Split });
        var a = result.Latents.ToArray<float>();
        var b = split.Latents.ToArray<float>();
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-4 * (1 + Math.Abs(a[i])), $"latent {i}: {a[i]} vs {b[i]}");
    }

    [Fact]
    public async Task Image_to_image_from_a_generated_png()
    {
        var pipeline = new Sd3Pipeline(tiny.Model.Components);
        var first = await pipeline.GenerateAsync(Request);
        var init = PngDecoder.Decode(first.Images[0].ToPng()).Image;
        var result = await pipeline.GenerateAsync(Request with { Prompt = "a watercolour cat", InitImage = init, Strength = 0.5 });
        Assert.Equal(2, result.Timings.Calls("transformer")); // 4 * 0.5 steps
        Assert.Equal(1, result.Timings.Calls("vae_encoder"));
        Assert.Equal((64, 64), (result.Images[0].Image!.Width, result.Images[0].Image!.Height));
        Assert.Equal(0.5, result.Images[0].Metadata.Strength);
    }

    [Fact]
    public async Task Latent_output_and_no_T5_and_count()
    {
        var pipeline = new Sd3Pipeline(tiny.Model.Components);
        var result = await pipeline.GenerateAsync(Request with { OutputType = OutputType.Latent, UseT5 = false, Count = 2, MaxSequenceLength = 32 });
        Assert.Equal(new TensorShape(2, 16, 8, 8), result.Latents.Shape);
        Assert.All(result.Images, i => Assert.Null(i.Image));
        Assert.Equal(0, result.Timings.Calls("text_encoder_3"));
        Assert.Equal(0, result.Timings.Calls("vae_decoder"));
    }

    [Fact]
    public async Task Model_limits_reach_validation()
    {
        var pipeline = new Sd3Pipeline(tiny.Model.Components);
        Assert.Equal(2, tiny.Model.Components.Model.ClipLayers);
        var e = await Assert.ThrowsAsync<GenerationRequestException>(() => pipeline.GenerateAsync(Request with { ClipSkip = 2 }));
        Assert.Equal("clip_skip", Assert.Single(e.Errors).Field);
        Assert.Contains("0..1", e.Errors[0].Message);
        var ok = await pipeline.GenerateAsync(Request with { ClipSkip = 1, OutputType = OutputType.Latent });
        Assert.Equal(new TensorShape(1, 16, 8, 8), ok.Latents.Shape);
    }
}
