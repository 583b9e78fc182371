using Sd3Mesh.Models;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline.Guidance;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Tests.Onnx;

/// <summary>The tiny model twice: on the host loop (cpu:0) and on the device-resident loop (cpu:1).</summary>
public sealed class ResidentFixture : IDisposable
{
    public ResidentFixture()
    {
        Tiny = new TinyModelFixture();
        Device = OnnxSd3Model.Open(Tiny.Directory, Sd3Mesh.Onnx.Device.Parse("cpu:1"), new OnnxModelOptions { Residency = DenoiseResidency.Device });
    }

    public TinyModelFixture Tiny { get; }
    public OnnxSd3Model Device { get; }

    public void Dispose()
    {
        Device.Dispose();
        Tiny.Dispose();
    }
}

/// <summary>
/// The device-resident denoising loop (IoBinding, guidance and the Euler step as an ONNX graph on the device), run
/// here on the CPU provider: the code path CUDA takes, checked against the host loop, which the fake-model tests check
/// against a float64 reference.
/// </summary>
public sealed class ResidentDenoisingTests(ResidentFixture fixture) : IClassFixture<ResidentFixture>
{
    private readonly TinyModelFixture tiny = fixture.Tiny;

    private static GenerationRequest Request => new()
    {
        Prompt = "a photo of a cat",
        NegativePrompt = "blurry",
        Width = 64,
        Height = 64,
        Steps = 4,
        Seeds = [42],
        OutputType = OutputType.Latent,
    };

    [Theory]
    [InlineData(CfgMode.Batched, 7.0)]
    [InlineData(CfgMode.Split, 7.0)]
    [InlineData(CfgMode.Batched, 1.0)] // no guidance: one pass
    public async Task Device_resident_latents_equal_the_host_loop_bit_for_bit(CfgMode mode, double guidance)
    {
        var device = fixture.Device;
        Assert.True(device.ResidentDenoising);
        Assert.False(tiny.Model.ResidentDenoising); // the CPU's default: the host loop
        var request = Request with { CfgMode = mode, GuidanceScale = guidance };
        var host = await new Sd3Pipeline(tiny.Model.Components).GenerateAsync(request);
        var resident = await new Sd3Pipeline(device.Components).GenerateAsync(request);

        Assert.Equal(host.Latents.Shape, resident.Latents.Shape);
        Assert.Equal(host.Latents.ToArray<float>(), resident.Latents.ToArray<float>());
        Assert.Equal(mode == CfgMode.Split && guidance > 1 ? 8 : 4, resident.Timings.Calls("transformer"));
        Assert.Equal(4, resident.Timings.Calls("scheduler"));
    }

    [Fact]
    public async Task Image_to_image_starts_the_device_loop_at_the_strength_step()
    {
        var device = fixture.Device;
        var first = await new Sd3Pipeline(tiny.Model.Components).GenerateAsync(Request with { OutputType = OutputType.Image });
        var init = Sd3Mesh.Pipeline.Imaging.PngDecoder.Decode(first.Images[0].ToPng()).Image;
        var request = Request with { InitImage = init, Strength = 0.5, Count = 2 };
        var host = await new Sd3Pipeline(tiny.Model.Components).GenerateAsync(request);
        var resident = await new Sd3Pipeline(device.Components).GenerateAsync(request);
        Assert.Equal(2, resident.Timings.Calls("transformer"));
        Assert.Equal(host.Latents.ToArray<float>(), resident.Latents.ToArray<float>());
    }

    [Fact]
    public async Task An_image_to_image_job_resumed_on_the_device_loop_ends_with_the_uninterrupted_runs_png()
    {
        var device = fixture.Device;
        var first = await new Sd3Pipeline(tiny.Model.Components).GenerateAsync(Request with { OutputType = OutputType.Image });
        var init = Sd3Mesh.Pipeline.Imaging.PngDecoder.Decode(first.Images[0].ToPng()).Image;
        var request = Request with { InitImage = init, Strength = 0.75, OutputType = OutputType.Image }; // 3 of 4 steps
        Tensor? checkpoint = null;
        var whole = await new Sd3Pipeline(tiny.Model.Components).GenerateAsync(request, p =>
        {
            if (p is { Step: 1, Latents: { } latents }) checkpoint = latents.Clone();
        }, latentsAt: step => step == 1);
        // The device loop prepares its first model input from the checkpoint at the schedule's step index 2 (1 + 1).
        var resumed = await new Sd3Pipeline(device.Components).GenerateAsync(request with { Resume = new DenoisingCheckpoint(1, checkpoint!) });
        Assert.Equal(2, resumed.Timings.Calls("scheduler"));
        Assert.Equal(whole.Images[0].ToPng(), resumed.Images[0].ToPng());
    }

    [Fact]
    public async Task Previews_read_the_device_latents_only_when_asked()
    {
        var device = fixture.Device;
        var hostSteps = new List<float[]>();
        await new Sd3Pipeline(tiny.Model.Components).GenerateAsync(Request, p =>
        {
            if (p.Latents is { } latents) hostSteps.Add(latents.ToArray<float>());
        }, latentsAt: _ => true);
        var deviceSteps = new List<float[]>();
        int asked = 0;
        await new Sd3Pipeline(device.Components).GenerateAsync(Request, p =>
        {
            if (p.Latents is { } latents)
            {
                asked++;
                deviceSteps.Add(latents.ToArray<float>());
            }
        }, latentsAt: step => step % 2 == 0);
        Assert.Equal(2, asked);
        Assert.Equal(hostSteps[1], deviceSteps[0]); // after step 2
        Assert.Equal(hostSteps[3], deviceSteps[1]); // after step 4
    }

    [Fact]
    public async Task Float16_models_cast_on_the_device_as_on_the_host()
    {
        string dir = Path.Combine(Path.GetTempPath(), "sd3mesh-tests-tiny16-" + Guid.NewGuid().ToString("N")[..8]);
        ModelZoo.Create("tiny", DType.Float16, 0, dir, submodules: [Submodule.TextEncoder, Submodule.TextEncoder2, Submodule.TextEncoder3, Submodule.Transformer, Submodule.VaeDecoder]);
        try
        {
            using var host = OnnxSd3Model.Open(dir, Device.Cpu, new OnnxModelOptions { Residency = DenoiseResidency.Host });
            using var device = OnnxSd3Model.Open(dir, Device.Cpu, new OnnxModelOptions { Residency = DenoiseResidency.Device });
            // Submodules fed float16 activations (transformer, VAE: the ones with convolutions) keep ONNX Runtime's TF32
            // default, which their CUDA convolutions need for tensor cores; the text encoders and float32 models are exact.
            Assert.Equal(["transformer", "vae_decoder"], device.Submodules.Where(s => s.Tf32).Select(s => s.Name).Order());
            Assert.All(fixture.Device.Submodules, s => Assert.False(s.Tf32));
            foreach (var mode in new[] { CfgMode.Batched, CfgMode.Split })
            {
                var a = await new Sd3Pipeline(host.Components).GenerateAsync(Request with { CfgMode = mode });
                var b = await new Sd3Pipeline(device.Components).GenerateAsync(Request with { CfgMode = mode });
                Assert.Equal(a.Latents.ToArray<float>(), b.Latents.ToArray<float>());
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Cancelling_stops_a_device_loop_and_the_model_serves_the_next_job()
    {
        var device = fixture.Device;
        using var cts = new CancellationTokenSource();
        var pipeline = new Sd3Pipeline(device.Components);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pipeline.GenerateAsync(Request with { Steps = 8 }, p =>
        {
            if (p is { Kind: ProgressKind.Step, Step: 2 }) cts.Cancel();
        }, cts.Token));
        var next = await pipeline.GenerateAsync(Request);
        var host = await new Sd3Pipeline(tiny.Model.Components).GenerateAsync(Request);
        Assert.Equal(host.Latents.ToArray<float>(), next.Latents.ToArray<float>());
    }

    [Fact]
    public void Cuda_graphs_need_the_device_loop()
    {
        var e = Assert.Throws<ArgumentException>(() => OnnxSd3Model.Open(tiny.Directory, Device.Cpu,
            new OnnxModelOptions { CudaGraph = true, Residency = DenoiseResidency.Host }));
        Assert.StartsWith("CUDA graphs need the device-resident denoising loop", e.Message);
    }
}
