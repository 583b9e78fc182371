using System.CommandLine;
using Sd3Mesh.Cli.Commands;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Guidance;
using Sd3Mesh.Server.Generation;

namespace Sd3Mesh.Cli.Tests;

/// <summary>generate's options: parsed into their types once, built into the API's request, mapped and validated by GenerateRequests.</summary>
public class GenerateOptionsTests
{
    private static IReadOnlyList<System.CommandLine.Parsing.ParseError> ParseErrors(params string[] args)
    {
        var options = new GenerateOptions();
        var command = new Command("generate");
        options.AddTo(command);
        return new RootCommand { command }.Parse(["generate", .. args]).Errors;
    }

    private static GenerateOptions.Values Parse(params string[] args)
    {
        var options = new GenerateOptions();
        var command = new Command("generate");
        options.AddTo(command);
        var parse = new RootCommand { command }.Parse(["generate", .. args]);
        Assert.Empty(parse.Errors);
        return options.Read(parse);
    }

    /// <summary>What a local run executes for these options (the same mapping a server applies).</summary>
    private static GenerationRequest Spec(GenerateOptions.Values values, Sd3ModelConfig? model = null)
    {
        var (request, errors) = GenerateOptions.ToRequest(values);
        Assert.Empty(errors);
        return GenerateRequests.ToSpec(request, model ?? Sd3ModelConfig.Sd3Medium, randomSeed: () => 1234).Request;
    }

    [Fact]
    public void Every_option_reaches_the_request()
    {
        var v = Parse("a cat", "--prompt-2", "p2", "--prompt-3", "p3", "--negative", "n", "--negative-2", "n2", "--negative-3", "n3",
            "--steps", "12", "--guidance", "4.5", "--width", "512", "--height", "768", "--seed", "5", "6", "--count", "2",
            "--max-sequence-length", "77", "--no-t5", "--output-type", "latent", "--clip-skip", "1", "--cfg", "split",
            "--device", "cuda:1", "--out", "/tmp/x");
        var request = Spec(v);
        Assert.Equal(("a cat", "p2", "p3", "n", "n2", "n3"), (request.Prompt, request.Prompt2, request.Prompt3, request.NegativePrompt, request.NegativePrompt2, request.NegativePrompt3));
        Assert.Equal((12, 4.5, 512, 768, 2, 77), (request.Steps, request.GuidanceScale, request.Width, request.Height, request.Count, request.MaxSequenceLength));
        Assert.Equal([5UL, 6UL], request.Seeds);
        Assert.False(request.UseT5);
        Assert.Equal(OutputType.Latent, request.OutputType);
        Assert.Equal(1, request.ClipSkip);
        Assert.Equal(CfgMode.Split, request.CfgMode);
        Assert.Equal(Onnx.Device.Parse("cuda:1"), v.Device);
        Assert.Equal("/tmp/x", v.Out);
    }

    [Fact]
    public void Defaults_follow_diffusers_and_the_models_sample_size()
    {
        var v = Parse("a cat");
        var request = Spec(v);
        Assert.Equal((28, 7.0, 1024, 1024, 1, 256, true), (request.Steps, request.GuidanceScale, request.Width, request.Height, request.Count, request.MaxSequenceLength, request.UseT5));
        Assert.Equal([1234UL], request.Seeds); // one seed plan: drawn once, here, then fixed for the pipeline
        Assert.Null(v.Device);
        var tiny = Spec(v, new Sd3ModelConfig { SampleSize = 8 });
        Assert.Equal((64, 64), (tiny.Width, tiny.Height));
        Assert.Equal([7UL, 8UL, 9UL], Spec(Parse("a cat", "--seed", "7", "--count", "3")).Seeds);
        Assert.Equal(3, Spec(Parse("a cat", "--seed", "7", "3", "5")).Count); // one image per seed given
    }

    [Fact]
    public void Errors_name_the_option_the_user_typed()
    {
        var v = Parse("a cat", "--steps", "0", "--max-sequence-length", "600", "--width", "100", "--guidance", "-1", "--count", "2", "--seed", "1", "2", "3");
        var error = Assert.Throws<InvalidGenerationRequestException>(() => GenerateRequests.ToSpec(GenerateOptions.ToRequest(v).Request));
        var messages = error.Errors.Select(GenerateOptions.Describe).ToList();
        Assert.Contains("--width: 100 is not a multiple of 16 (vae_scale_factor x patch_size); use 96 or 112", messages);
        Assert.Contains("--steps: 0 is outside the allowed range 1..1000", messages);
        Assert.Contains("--max-sequence-length: 600 is outside the allowed range 1..512", messages);
        Assert.Contains(messages, m => m.StartsWith("--guidance: -1 is outside the allowed range 0..100"));
        Assert.Contains(messages, m => m.StartsWith("--seed: 3 seeds were given for count 2"));
    }

    [Fact]
    public void Strength_without_an_init_image_is_refused_as_the_server_refuses_it()
    {
        var error = Assert.Throws<InvalidGenerationRequestException>(() => GenerateRequests.ToSpec(GenerateOptions.ToRequest(Parse("a cat", "--strength", "0.5")).Request));
        Assert.Equal("--strength: applies to image-to-image only: give an init image or leave it unset", GenerateOptions.Describe(Assert.Single(error.Errors)));
    }

    [Theory]
    [InlineData("--steps", "abc", "--steps: 'abc' is not a whole number (0, 1, 2, ...)")]
    [InlineData("--steps", "-3", "--steps: '-3' is not a whole number (0, 1, 2, ...)")]
    [InlineData("--width", "1.5", "--width: '1.5' is not a whole number (0, 1, 2, ...)")]
    [InlineData("--guidance", "lots", "--guidance: 'lots' is not a number (e.g. 7 or 0.6)")]
    [InlineData("--strength", "NaN", "--strength: 'NaN' is not a number (e.g. 7 or 0.6)")]
    [InlineData("--device", "tpu:0", "--device: unknown device 'tpu:0': expected ")]
    public void Values_that_do_not_parse_are_one_error_naming_the_option(string option, string value, string message)
    {
        var error = Assert.Single(ParseErrors("a cat", option, value));
        Assert.StartsWith(message, error.Message);
    }

    [Fact]
    public void An_unreadable_init_image_is_an_option_error()
    {
        var missing = Path.Combine(Path.GetTempPath(), "sd3mesh-missing-" + Guid.NewGuid().ToString("N"));
        var (_, errors) = GenerateOptions.ToRequest(Parse("a cat", "--init-image", missing + ".png"));
        Assert.StartsWith($"--init-image: cannot read '{missing}.png': ", GenerateOptions.Describe(Assert.Single(errors)));
    }

    [Fact]
    public void Every_request_field_maps_to_an_option()
    {
        foreach (var field in new[] { "prompt_2", "prompt_3", "negative_prompt", "negative_prompt_2", "negative_prompt_3", "width", "height", "steps",
                     "guidance_scale", "seeds", "count", "max_sequence_length", "init_image", "strength", "latents", "clip_skip", "output_type", "cfg_mode" })
            Assert.StartsWith("--", GenerateOptions.OptionName(field));
    }
}
