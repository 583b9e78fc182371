using Sd3Mesh.Models;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline.Guidance;
using Sd3Mesh.Pipeline.Onnx;

namespace Sd3Mesh.Pipeline.Tests.Onnx;

/// <summary>Submodules on several devices in one process: each session where its placement says, same results.</summary>
public sealed class PlacementTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    private static GenerationRequest Request => new()
    {
        Prompt = "a photo of a cat",
        NegativePrompt = "blurry",
        Width = 64,
        Height = 64,
        Steps = 3,
        Seeds = [7],
        CfgMode = CfgMode.Split,
    };

    [Fact]
    public void Placement_text_names_submodules_and_devices()
    {
        var p = DevicePlacement.Parse("text_encoder=cpu:1, text_encoder_3=cpu:2,transformer_uncond=cuda:1", Device.Parse("cpu"));
        Assert.Equal(Device.Parse("cpu:1"), p.For(Submodule.TextEncoder));
        Assert.Equal(Device.Parse("cpu:2"), p.For(Submodule.TextEncoder3));
        Assert.Equal(Device.Cpu, p.For(Submodule.Transformer));
        Assert.Equal(Device.Cuda(1), p.UncondTransformer);
        Assert.Equal([Device.Cpu, Device.Parse("cpu:1"), Device.Parse("cpu:2"), Device.Cuda(1)], p.Devices);
        Assert.Equal("cpu:0; text_encoder=cpu:1, text_encoder_3=cpu:2, transformer_uncond=cuda:1", p.ToString());
        Assert.Equal("cuda:0", DevicePlacement.Parse("", Device.Cuda(0)).ToString());
        Assert.Equal(DevicePlacement.All(Device.Cuda(0)).Default, ((DevicePlacement)Device.Cuda(0)).Default);

        Assert.Equal("placement entry 'unet=cpu:1': unknown submodule 'unet': expected one of text_encoder, text_encoder_2, text_encoder_3, " +
                     "transformer, vae_decoder, vae_encoder or transformer_uncond",
            Assert.Throws<FormatException>(() => DevicePlacement.Parse("unet=cpu:1", Device.Cpu)).Message);
        Assert.Equal("placement entry 'vae_decoder=tpu:0': unknown device 'tpu:0': expected cpu, cpu:N or cuda:N (N = 0, 1, 2, ...)",
            Assert.Throws<FormatException>(() => DevicePlacement.Parse("vae_decoder=tpu:0", Device.Cpu)).Message);
        Assert.Equal("placement entry 'cpu:1' is not submodule=device (e.g. text_encoder=cpu:1)",
            Assert.Throws<FormatException>(() => DevicePlacement.Parse("cpu:1", Device.Cpu)).Message);
    }

    [Fact]
    public async Task Encoders_and_the_two_guidance_passes_on_four_devices_give_the_one_device_result()
    {
        var placement = DevicePlacement.Parse("text_encoder=cpu:11,text_encoder_2=cpu:12,text_encoder_3=cpu:13,transformer_uncond=cpu:14", Device.Parse("cpu:10"));
        using var spread = OnnxSd3Model.Open(tiny.Directory, placement);
        var reference = await new Sd3Pipeline(tiny.Model.Components).GenerateAsync(Request);
        var result = await new Sd3Pipeline(spread.Components).GenerateAsync(Request);
        Assert.Equal(reference.Images[0].Image!.Pixels, result.Images[0].Image!.Pixels);
        Assert.Equal(reference.Latents.ToArray<float>(), result.Latents.ToArray<float>());

        var devices = spread.Submodules.Where(s => s.IsLoaded).ToDictionary(s => s.Name, s => s.Device.ToString());
        Assert.Equal(new Dictionary<string, string>
        {
            ["text_encoder"] = "cpu:11", ["text_encoder_2"] = "cpu:12", ["text_encoder_3"] = "cpu:13",
            ["transformer"] = "cpu:10", ["transformer_uncond"] = "cpu:14", ["vae_decoder"] = "cpu:10",
        }, devices);
        // Split guidance sent each step's negative pass to the second transformer session.
        Assert.Equal(3, spread.Clock.Calls("transformer"));
        Assert.Equal(3, spread.Clock.Calls("transformer_uncond"));
    }
}
