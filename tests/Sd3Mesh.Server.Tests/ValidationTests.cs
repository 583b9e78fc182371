using Google.Protobuf;
using Grpc.Core;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Generation;
using Sd3Mesh.Server.Jobs;
using E = Sd3Mesh.Protos.V1.JobEvent.EventOneofCase;
using PipelineRequest = Sd3Mesh.Pipeline.GenerationRequest;
using Sd3ModelConfig = Sd3Mesh.Pipeline.Sd3ModelConfig;

namespace Sd3Mesh.Server.Tests;

public sealed class SiloFixture : IAsyncLifetime
{
    public TestSilo Silo { get; private set; } = null!;
    public async Task InitializeAsync() => Silo = await TestSilo.StartAsync();
    public async Task DisposeAsync() => await Silo.DisposeAsync();
}

/// <summary>
/// Every rule of generation.proto's GenerateRequest, one row each, through the real API (Submit): the
/// wire format's own rules, and the pipeline's limits (GenerationRequest.Validate) with its messages.
/// </summary>
public class ValidationTests(SiloFixture fixture) : IClassFixture<SiloFixture>
{
    private static readonly byte[] Png = TestPng.Encode(32, 32, (_, _) => (1, 2, 3)); // TestSilo.Request's size
    private static readonly string TooLong = new('x', 10_001);
    private const string OutOfRange = "is outside the allowed range";
    private const string PosEmbed = "; this model's pos_embed_max_size 192 x 16 allows no more"; // SD3 Medium's 3072 px

    public static TheoryData<string, Action<GenerateRequest>, string> Rules => new()
    {
        // The wire format's rules (GenerateRequests).
        { "prompt empty", r => r.Prompt = "", "prompt: is empty; a prompt of 1..10000 characters is required" },
        { "prompt blank", r => r.Prompt = "   ", "prompt: is empty; a prompt of 1..10000 characters is required" },
        { "seed and seeds", r => r.Seeds.Add(1), "seeds: set either seed (image i uses seed + i) or seeds (one per image), not both" },
        { "output_type unknown", r => r.OutputType = (OutputType)7, "output_type: 7 is not OUTPUT_TYPE_IMAGE or OUTPUT_TYPE_LATENT" },
        { "cfg_mode unknown", r => r.CfgMode = (CfgMode)5, "cfg_mode: 5 is not CFG_MODE_BATCHED or CFG_MODE_SPLIT" },
        { "strength without init_image", r => r.Strength = 0.5f, "strength: applies to image-to-image only: give an init image or leave it unset" },
        { "init_image too large", r => r.InitImage = ByteString.CopyFrom(new byte[32 * 1024 * 1024 + 1]), "init_image: is 33554433 bytes; at most 33554432 (32 MiB) are allowed" },
        { "init_image not a PNG", r => r.InitImage = ByteString.CopyFromUtf8("GIF89a..."), "init_image: a GIF file, not a PNG: convert it to PNG" },
        { "init_image truncated", r => r.InitImage = ByteString.CopyFrom(Png.AsSpan(0, 50)), "init_image: PNG chunk at byte 33 runs past the end of the file (truncated file?)" },
        { "preview_interval beyond steps", r => r.PreviewInterval = 4, "preview_interval: 4 is outside the allowed range 0..3 (0: no previews, else at most steps)" },
        { "request_id too long", r => r.RequestId = new string('r', 129), "request_id: is 129 characters long; at most 128 are allowed" },
        { "request_id with a space", r => r.RequestId = "retry 2", "request_id: has a character outside printable ASCII (! to ~) at position 5" },
        { "request_id not ASCII", r => r.RequestId = "café", "request_id: has a character outside printable ASCII (! to ~) at position 3" },
        // The pipeline's limits.
        { "prompt too long", r => r.Prompt = TooLong, "prompt: is 10001 characters long; at most 10000 are allowed" },
        { "prompt_2 too long", r => r.Prompt2 = TooLong, "prompt_2: is 10001 characters long; at most 10000 are allowed" },
        { "prompt_3 too long", r => r.Prompt3 = TooLong, "prompt_3: is 10001 characters long; at most 10000 are allowed" },
        { "negative_prompt too long", r => r.NegativePrompt = TooLong, "negative_prompt: is 10001 characters long; at most 10000 are allowed" },
        { "negative_prompt_2 too long", r => r.NegativePrompt2 = TooLong, "negative_prompt_2: is 10001 characters long; at most 10000 are allowed" },
        { "negative_prompt_3 too long", r => r.NegativePrompt3 = TooLong, "negative_prompt_3: is 10001 characters long; at most 10000 are allowed" },
        { "width not a multiple of 16", r => r.Width = 1000, "width: 1000 is not a multiple of 16 (vae_scale_factor x patch_size); use 992 or 1008" },
        { "width zero", r => r.Width = 0, $"width: 0 {OutOfRange} 16..3072 (a multiple of 16)" },
        { "width too large", r => r.Width = 3088, $"width: 3088 {OutOfRange} 16..3072 (a multiple of 16){PosEmbed}" },
        { "width beyond int", r => r.Width = uint.MaxValue, $"width: 4294967295 {OutOfRange} 16..3072 (a multiple of 16){PosEmbed}" },
        { "height not a multiple of 16", r => r.Height = 520, "height: 520 is not a multiple of 16 (vae_scale_factor x patch_size); use 512 or 528" },
        { "height too large", r => r.Height = 8192, $"height: 8192 {OutOfRange} 16..3072 (a multiple of 16){PosEmbed}" },
        { "steps zero", r => r.Steps = 0, $"steps: 0 {OutOfRange} 1..1000" },
        { "steps too many", r => r.Steps = 1001, $"steps: 1001 {OutOfRange} 1..1000" },
        { "guidance negative", r => r.GuidanceScale = -0.5f, $"guidance_scale: -0.5 {OutOfRange} 0..100 (values <= 1 disable guidance)" },
        { "guidance NaN", r => r.GuidanceScale = float.NaN, $"guidance_scale: NaN {OutOfRange} 0..100 (values <= 1 disable guidance)" },
        { "guidance too large", r => r.GuidanceScale = 101, $"guidance_scale: 101 {OutOfRange} 0..100 (values <= 1 disable guidance)" },
        { "count zero", r => r.Count = 0, $"count: 0 {OutOfRange} 1..16" },
        { "count too many", r => r.Count = 17, $"count: 17 {OutOfRange} 1..16" },
        { "seeds count differs", r => { r.ClearSeed(); r.Count = 2; r.Seeds.Add([1, 2, 3]); }, "seeds: 3 seeds were given for count 2: give one seed (image i uses seed + i) or exactly 2" },
        { "too many seeds", r => { r.ClearSeed(); r.Seeds.Add(Enumerable.Range(0, 17).Select(i => (ulong)i)); }, $"count: 17 {OutOfRange} 1..16" },
        { "max_sequence_length zero", r => r.MaxSequenceLength = 0, $"max_sequence_length: 0 {OutOfRange} 1..512" },
        { "max_sequence_length too long", r => r.MaxSequenceLength = 513, $"max_sequence_length: 513 {OutOfRange} 1..512" },
        { "strength zero", r => { r.InitImage = ByteString.CopyFrom(Png); r.Strength = 0; }, $"strength: 0 {OutOfRange} (0, 1]" },
        { "strength above one", r => { r.InitImage = ByteString.CopyFrom(Png); r.Strength = 1.5f; }, $"strength: 1.5 {OutOfRange} (0, 1]" },
        { "init_image size differs", r => { r.InitImage = ByteString.CopyFrom(Png); r.Width = 64; }, "init_image: the image is 32x32 but width x height is 64x32; resize the image or request its size" },
        { "clip_skip too large", r => r.ClipSkip = 12, $"clip_skip: 12 {OutOfRange} 0..11 for this model's CLIP encoders" },
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public async Task Invalid_field_is_rejected_with_invalid_argument_naming_it(string rule, Action<GenerateRequest> breakIt, string message)
    {
        var request = TestSilo.Request();
        breakIt(request);
        var error = await Assert.ThrowsAsync<RpcException>(() => fixture.Silo.Client.SubmitAsync(request));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal("invalid GenerateRequest: " + message, error.Status.Detail);
        Assert.NotNull(rule);
    }

    [Fact]
    public async Task Several_invalid_fields_are_reported_together_in_field_order()
    {
        var request = new GenerateRequest { Prompt = "", Width = 17, Steps = 0, CfgMode = (CfgMode)9 };
        var error = await Assert.ThrowsAsync<RpcException>(() => fixture.Silo.Client.SubmitAsync(request));
        Assert.Equal("invalid GenerateRequest: prompt: is empty; a prompt of 1..10000 characters is required; " +
            "width: 17 is not a multiple of 16 (vae_scale_factor x patch_size); use 16 or 32; steps: 0 is outside the allowed range 1..1000; " +
            "cfg_mode: 9 is not CFG_MODE_BATCHED or CFG_MODE_SPLIT", error.Status.Detail);
    }

    [Fact]
    public async Task Generate_validates_too_and_nothing_is_queued()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => fixture.Silo.GenerateAsync(new GenerateRequest { Prompt = "p", Steps = 2000 }));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.DoesNotContain((await fixture.Silo.Client.ListJobsAsync(new ListJobsRequest())).Jobs, j => j.Request.Steps == 2000);
    }

    [Fact]
    public async Task Limits_come_from_the_serving_model()
    {
        // A model with 2-layer CLIP encoders and no patching: clip_skip at most 1, sizes in multiples of 8, a
        // native size of 5 latents (40 px, the default) and a position table of 6 (48 px at most).
        var executor = new ScriptedExecutor { Model = new Sd3ModelConfig { ClipLayers = 2, Clip2Layers = 2, PatchSize = 1, SampleSize = 5, PosEmbedMaxSize = 6 } };
        await using var silo = await TestSilo.StartAsync(executor: executor);
        var request = new GenerateRequest { Prompt = "p", Steps = 2, ClipSkip = 1 };
        Assert.Equal(E.Finished, (await silo.GenerateAsync(request))[^1].EventCase);
        Assert.Equal((40, 40), (executor.Executed[0].Request.Width, executor.Executed[0].Request.Height));
        request.ClipSkip = 2;
        request.Width = 44;
        request.Height = 56;
        var error = await Assert.ThrowsAsync<RpcException>(() => silo.Client.SubmitAsync(request));
        Assert.Equal("invalid GenerateRequest: width: 44 is not a multiple of 8 (vae_scale_factor x patch_size); use 40 or 48; " +
            "height: 56 is outside the allowed range 16..48 (a multiple of 8); this model's pos_embed_max_size 6 x 8 allows no more; " +
            "clip_skip: 2 is outside the allowed range 0..1 for this model's CLIP encoders", error.Status.Detail);
    }

    [Fact]
    public void Defaults_are_the_pipelines()
    {
        var spec = GenerateRequests.ToSpec(new GenerateRequest { Prompt = "p", NegativePrompt = "n" }, randomSeed: () => 1000);
        var r = spec.Request;
        var pipelineDefaults = new PipelineRequest { Prompt = "p", NegativePrompt = "n" };
        Assert.Equal([1000UL], r.Seeds);
        Assert.Equal(pipelineDefaults, r with { Seeds = pipelineDefaults.Seeds });
        Assert.Equal((null, null, null, null), (r.Prompt2, r.Prompt3, r.NegativePrompt2, r.NegativePrompt3)); // the pipeline falls back to prompt / negative_prompt
        Assert.Equal((1024, 1024, 28, 7.0, 256, 1), (r.Width, r.Height, r.Steps, r.GuidanceScale, r.MaxSequenceLength, r.Count));
        Assert.Equal((Pipeline.OutputType.Image, Pipeline.Guidance.CfgMode.Batched, (int?)null, true), (r.OutputType, r.CfgMode, r.ClipSkip, r.UseT5));
        Assert.Equal(0, spec.PreviewInterval);
        Assert.Null(r.InitImage);
    }

    [Fact]
    public void Seeds_per_image_and_image_to_image_defaults()
    {
        var fromBase = GenerateRequests.ToSpec(new GenerateRequest { Prompt = "p", Seed = ulong.MaxValue, Count = 3 });
        Assert.Equal([ulong.MaxValue, 0UL, 1UL], fromBase.Seeds); // wraps around like the CLI's seed + i
        var explicitSeeds = GenerateRequests.ToSpec(new GenerateRequest { Prompt = "p", Seeds = { 7, 3 } });
        Assert.Equal([7UL, 3UL], explicitSeeds.Seeds);
        Assert.Equal(2, explicitSeeds.Count);
        var oneSeedForTwo = GenerateRequests.ToSpec(new GenerateRequest { Prompt = "p", Seeds = { 7 }, Count = 2 });
        Assert.Equal([7UL, 8UL], oneSeedForTwo.Seeds);
        var random = GenerateRequests.ToSpec(new GenerateRequest { Prompt = "p", Count = 2 });
        Assert.Equal(random.Seeds[0] + 1, random.Seeds[1]);
        Assert.InRange(random.Seeds[0], 0UL, 1UL << 53);

        // Image-to-image: the size defaults to the image's, strength to 0.6; 10 steps run 6.
        var img2img = GenerateRequests.ToSpec(new GenerateRequest { Prompt = "p", Steps = 10, InitImage = ByteString.CopyFrom(Png), PreviewInterval = 3 });
        Assert.Equal((32, 32, 0.6, 6, 3), (img2img.Request.Width, img2img.Request.Height, img2img.Request.Strength, img2img.DenoisingSteps, img2img.PreviewInterval));
        Assert.Equal((1, 2, 3), img2img.Request.InitImage![5, 7]);
    }

    [Fact]
    public void Float_fields_mean_the_decimal_that_was_sent()
    {
        // 0.6f is 0.6000000238: taken as is it would run 7 of 10 steps where generate's 0.6 runs 6.
        var spec = GenerateRequests.ToSpec(new GenerateRequest
        {
            Prompt = "p", Steps = 10, InitImage = ByteString.CopyFrom(Png), Strength = 0.6f, GuidanceScale = 7.1f,
        });
        Assert.Equal((0.6, 7.1, 6), (spec.Request.Strength, spec.Request.GuidanceScale, spec.DenoisingSteps));
    }

    [Fact]
    public void Local_latents_are_validated_with_the_request_and_reported_last()
    {
        // Only a local run can give latents (the API has no field for them); they are checked in the same pass.
        var latents = Tensors.Tensor.Zeros(Tensors.DType.Float32, new Tensors.TensorShape(1, 16, 4, 4));
        var spec = GenerateRequests.ToSpec(TestSilo.Request(), latents: latents);
        Assert.Same(latents, spec.Request.Latents);
        var error = Assert.Throws<InvalidGenerationRequestException>(() =>
            GenerateRequests.ToSpec(new GenerateRequest { Prompt = "p", Width = 64, Height = 32, Steps = 0 }, latents: latents));
        Assert.Equal(["steps", "latents"], error.Errors.Select(e => e.Field));
        Assert.Equal("shape [1, 16, 4, 4] does not match [count, channels, height/8, width/8] = [1, 16, 4, 8]", error.Errors[1].Message);
    }
}
