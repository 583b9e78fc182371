using System.CommandLine;
using Sd3Mesh.Cli.Commands;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Guidance;

namespace Sd3Mesh.Cli.Tests;

public class GenerateOptionsTests
{
    private static GenerateOptions.Values Parse(params string[] args)
    {
        var options = new GenerateOptions();
        var command = new Command("generate");
        options.AddTo(command);
        var parse = new RootCommand { command }.Parse(["generate", .. args]);
        Assert.Empty(parse.Errors);
        return options.Read(parse);
    }

    [Fact]
    public void Every_option_reaches_the_request()
    {
        var v = Parse("a cat", "--prompt-2", "p2", "--prompt-3", "p3", "--negative", "n", "--negative-2", "n2", "--negative-3", "n3",
            "--steps", "12", "--guidance", "4.5", "--width", "512", "--height", "768", "--seed", "5", "6", "--count", "2",
            "--max-sequence-length", "77", "--no-t5", "--output-type", "latent", "--clip-skip", "1", "--cfg", "split",
            "--device", "cuda:0", "--out", "/tmp/x");
        var (request, errors) = GenerateOptions.BuildRequest(v, Sd3ModelConfig.Sd3Medium);
        Assert.Empty(errors);
        Assert.NotNull(request);
        Assert.Equal(("a cat", "p2", "p3", "n", "n2", "n3"), (request.Prompt, request.Prompt2, request.Prompt3, request.NegativePrompt, request.NegativePrompt2, request.NegativePrompt3));
        Assert.Equal((12, 4.5, 512, 768, 2, 77), (request.Steps, request.GuidanceScale, request.Width, request.Height, request.Count, request.MaxSequenceLength));
        Assert.Equal([5UL, 6UL], request.Seeds);
        Assert.False(request.UseT5);
        Assert.Equal(OutputType.Latent, request.OutputType);
        Assert.Equal(1, request.ClipSkip);
        Assert.Equal(CfgMode.Split, request.CfgMode);
        Assert.Equal("cuda:0", v.Device);
        Assert.Equal("/tmp/x", v.Out);
    }

    [Fact]
    public void Defaults_follow_diffusers_and_the_models_sample_size()
    {
        var v = Parse("a cat");
        var (request, _) = GenerateOptions.BuildRequest(v, Sd3ModelConfig.Sd3Medium);
        Assert.Equal((28, 7.0, 1024, 1024, 1, 256, true), (request!.Steps, request.GuidanceScale, request.Width, request.Height, request.Count, request.MaxSequenceLength, request.UseT5));
        var (tiny, _) = GenerateOptions.BuildRequest(v, new Sd3ModelConfig { SampleSize = 8 });
        Assert.Equal((64, 64), (tiny!.Width, tiny.Height));
    }

    [Fact]
    public void Errors_name_the_option_the_user_typed()
    {
        var v = Parse("a cat", "--steps", "0", "--max-sequence-length", "600", "--width", "100", "--guidance", "-1", "--count", "2", "--seed", "1", "2", "3");
        var (request, errors) = GenerateOptions.BuildRequest(v, Sd3ModelConfig.Sd3Medium);
        Assert.Null(request);
        var messages = errors.Select(GenerateOptions.Describe).ToList();
        Assert.Contains("--width: 100 is not a multiple of 16 (vae_scale_factor x patch_size); use 96 or 112", messages);
        Assert.Contains("--steps: 0 is outside the allowed range 1..1000", messages);
        Assert.Contains("--max-sequence-length: 600 is outside the allowed range 1..512", messages);
        Assert.Contains(messages, m => m.StartsWith("--guidance: -1 is outside the allowed range 0..100"));
        Assert.Contains(messages, m => m.StartsWith("--seed: 3 seeds were given for count 2"));
    }

    [Fact]
    public void Unreadable_init_image_and_latents_are_option_errors()
    {
        var missing = Path.Combine(Path.GetTempPath(), "sd3mesh-missing-" + Guid.NewGuid().ToString("N"));
        var v = Parse("a cat", "--init-image", missing + ".png", "--latents", missing + ".npy");
        var (_, errors) = GenerateOptions.BuildRequest(v, Sd3ModelConfig.Sd3Medium);
        var messages = errors.Select(GenerateOptions.Describe).ToList();
        Assert.Contains(messages, m => m.StartsWith("--init-image: ") && m.Contains("cannot read"));
        Assert.Contains(messages, m => m.StartsWith("--latents: cannot read"));
    }

    [Fact]
    public void Every_request_field_maps_to_an_option()
    {
        foreach (var field in new[] { "prompt_2", "prompt_3", "negative_prompt", "negative_prompt_2", "negative_prompt_3", "width", "height", "steps",
                     "guidance_scale", "seeds", "count", "max_sequence_length", "init_image", "strength", "latents", "clip_skip" })
            Assert.StartsWith("--", GenerateOptions.OptionName(field));
    }
}
