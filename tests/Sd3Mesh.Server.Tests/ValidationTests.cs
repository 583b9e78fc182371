using Google.Protobuf;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Rpc;
using Sd3Mesh.Server.Generation;
using Sd3Mesh.Server.Jobs;

namespace Sd3Mesh.Server.Tests;

public sealed class SiloFixture : IAsyncLifetime
{
    public TestSilo Silo { get; private set; } = null!;
    public async Task InitializeAsync() => Silo = await TestSilo.StartAsync();
    public async Task DisposeAsync() => await Silo.DisposeAsync();
}

/// <summary>Every rule of generation.proto's GenerateRequest, one row each, through the real API (Submit).</summary>
public class ValidationTests(SiloFixture fixture) : IClassFixture<SiloFixture>
{
    private static readonly byte[] Png = TestPng.Encode(4, 4, (_, _) => (1, 2, 3));
    private static readonly string TooLong = new('x', 10_001);

    public static TheoryData<string, Action<GenerateRequest>, string> Rules => new()
    {
        { "prompt empty", r => r.Prompt = "", "prompt is required (1 .. 10000 characters)" },
        { "prompt blank", r => r.Prompt = "   ", "prompt is required (1 .. 10000 characters)" },
        { "prompt too long", r => r.Prompt = TooLong, "prompt must be at most 10000 characters, got 10001" },
        { "prompt_2 too long", r => r.Prompt2 = TooLong, "prompt_2 must be at most 10000 characters, got 10001" },
        { "prompt_3 too long", r => r.Prompt3 = TooLong, "prompt_3 must be at most 10000 characters, got 10001" },
        { "negative_prompt too long", r => r.NegativePrompt = TooLong, "negative_prompt must be at most 10000 characters, got 10001" },
        { "negative_prompt_2 too long", r => r.NegativePrompt2 = TooLong, "negative_prompt_2 must be at most 10000 characters, got 10001" },
        { "negative_prompt_3 too long", r => r.NegativePrompt3 = TooLong, "negative_prompt_3 must be at most 10000 characters, got 10001" },
        { "width not a multiple of 16", r => r.Width = 1000, "width must be a multiple of 16 in [16, 4096], got 1000" },
        { "width zero", r => r.Width = 0, "width must be a multiple of 16 in [16, 4096], got 0" },
        { "width too large", r => r.Width = 4112, "width must be a multiple of 16 in [16, 4096], got 4112" },
        { "height not a multiple of 16", r => r.Height = 520, "height must be a multiple of 16 in [16, 4096], got 520" },
        { "height too large", r => r.Height = 8192, "height must be a multiple of 16 in [16, 4096], got 8192" },
        { "steps zero", r => r.Steps = 0, "steps must be in [1, 1000], got 0" },
        { "steps too many", r => r.Steps = 1001, "steps must be in [1, 1000], got 1001" },
        { "guidance negative", r => r.GuidanceScale = -0.5f, "guidance_scale must be a finite number in [0, 100], got -0.5" },
        { "guidance NaN", r => r.GuidanceScale = float.NaN, "guidance_scale must be a finite number in [0, 100], got NaN" },
        { "guidance too large", r => r.GuidanceScale = 101, "guidance_scale must be a finite number in [0, 100], got 101" },
        { "count zero", r => r.Count = 0, "count must be in [1, 16], got 0" },
        { "count too many", r => r.Count = 17, "count must be in [1, 16], got 17" },
        { "seed and seeds", r => { r.Seeds.Add(1); }, "set either seed or seeds, not both" },
        { "seeds count differs", r => { r.ClearSeed(); r.Count = 2; r.Seeds.Add([1, 2, 3]); }, "seeds must hold one seed per image: count is 2, got 3 seeds" },
        { "too many seeds", r => { r.ClearSeed(); r.Seeds.Add(Enumerable.Range(0, 17).Select(i => (ulong)i)); }, "count must be in [1, 16], got 17 (the number of seeds)" },
        { "max_sequence_length zero", r => r.MaxSequenceLength = 0, "max_sequence_length must be in [1, 512], got 0" },
        { "max_sequence_length too long", r => r.MaxSequenceLength = 513, "max_sequence_length must be in [1, 512], got 513" },
        { "init_image not a PNG", r => r.InitImage = ByteString.CopyFromUtf8("GIF89a..."), "init_image must be a PNG file (its bytes do not start with the PNG signature)" },
        { "init_image too large", r => r.InitImage = ByteString.CopyFrom(new byte[32 * 1024 * 1024 + 1]), "init_image must be at most 32 MiB, got 33554433 bytes" },
        { "strength without init_image", r => r.Strength = 0.5f, "strength needs init_image (image-to-image); leave it unset for text-to-image" },
        { "strength zero", r => { r.InitImage = ByteString.CopyFrom(Png); r.Strength = 0; }, "strength must be in (0, 1], got 0" },
        { "strength above one", r => { r.InitImage = ByteString.CopyFrom(Png); r.Strength = 1.5f; }, "strength must be in (0, 1], got 1.5" },
        { "output_type unknown", r => r.OutputType = (OutputType)7, "output_type must be OUTPUT_TYPE_IMAGE or OUTPUT_TYPE_LATENT, got 7" },
        { "preview_interval beyond steps", r => r.PreviewInterval = 4, "preview_interval must be 0 (no previews) or in [1, steps=3], got 4" },
        { "clip_skip too large", r => r.ClipSkip = 12, "clip_skip must be in [0, 11], got 12" },
        { "cfg_mode unknown", r => r.CfgMode = (CfgMode)5, "cfg_mode must be CFG_MODE_BATCHED or CFG_MODE_SPLIT, got 5" },
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public async Task Invalid_field_is_rejected_with_invalid_argument_naming_it(string rule, Action<GenerateRequest> breakIt, string message)
    {
        var request = TestSilo.Request();
        breakIt(request);
        var error = await Assert.ThrowsAsync<RpcException>(() => fixture.Silo.Client.SubmitAsync(request));
        Assert.Equal(Rpc.StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal("invalid GenerateRequest: " + message, error.Status.Detail);
        Assert.NotNull(rule);
    }

    [Fact]
    public async Task Several_invalid_fields_are_reported_together()
    {
        var request = new GenerateRequest { Prompt = "", Width = 17, Steps = 0 };
        var error = await Assert.ThrowsAsync<RpcException>(() => fixture.Silo.Client.SubmitAsync(request));
        Assert.Equal("invalid GenerateRequest: prompt is required (1 .. 10000 characters); " +
            "width must be a multiple of 16 in [16, 4096], got 17; steps must be in [1, 1000], got 0", error.Status.Detail);
    }

    [Fact]
    public async Task Generate_validates_too()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => fixture.Silo.GenerateAsync(new GenerateRequest { Prompt = "p", Steps = 2000 }));
        Assert.Equal(Rpc.StatusCode.InvalidArgument, error.StatusCode);
    }

    [Fact]
    public void Defaults_are_applied()
    {
        var spec = GenerationRequestValidator.Validate(new GenerateRequest { Prompt = "p", NegativePrompt = "n" }, () => 1000);
        Assert.Equal(("p", "p", "p", "n", "n", "n"), (spec.Prompt, spec.Prompt2, spec.Prompt3, spec.NegativePrompt, spec.NegativePrompt2, spec.NegativePrompt3));
        Assert.Equal((1024, 1024, 28, 7.0f, 256), (spec.Width, spec.Height, spec.Steps, spec.GuidanceScale, spec.MaxSequenceLength));
        Assert.Equal([1000UL], spec.Seeds);
        Assert.Equal((GenerationOutput.Image, GuidanceBatching.Batched, 0, 0, false), (spec.Output, spec.CfgMode, spec.PreviewInterval, spec.ClipSkip, spec.NoT5));
        Assert.Null(spec.InitImage);
    }

    [Fact]
    public void Seeds_per_image_and_image_to_image_defaults()
    {
        var fromBase = GenerationRequestValidator.Validate(new GenerateRequest { Prompt = "p", Seed = ulong.MaxValue, Count = 3 });
        Assert.Equal([ulong.MaxValue, 0UL, 1UL], fromBase.Seeds); // wraps around like the CLI's seed + i
        var explicitSeeds = GenerationRequestValidator.Validate(new GenerateRequest { Prompt = "p", Seeds = { 7, 3 } });
        Assert.Equal([7UL, 3UL], explicitSeeds.Seeds);
        var img2img = GenerationRequestValidator.Validate(new GenerateRequest { Prompt = "p", Steps = 10, InitImage = ByteString.CopyFrom(Png) });
        Assert.Equal((0.6f, 6), (img2img.Strength, img2img.EffectiveSteps));
        Assert.Equal(Png, img2img.InitImage);
    }
}
