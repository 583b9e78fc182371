using Sd3Mesh.Pipeline.Imaging;
using Sd3Mesh.Pipeline.Tests.Support;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Tests.Pipeline;

public class GenerationRequestTests
{
    private static readonly GenerationRequest Valid = new() { Prompt = "a cat" };

    private static ValidationError Single(GenerationRequest r, Sd3ModelConfig? model = null) => Assert.Single(r.Validate(model));

    [Fact]
    public void Defaults_are_diffusers_and_valid()
    {
        Assert.Empty(Valid.Validate());
        Assert.Equal((1024, 1024, 28, 7.0, 256, 0.6), (Valid.Width, Valid.Height, Valid.Steps, Valid.GuidanceScale, Valid.MaxSequenceLength, Valid.Strength));
    }

    [Theory]
    [InlineData(1000, "width", "1000 is not a multiple of 16 (vae_scale_factor x patch_size); use 992 or 1008")]
    [InlineData(8, "width", "8 is outside the allowed range 16..3072 (a multiple of 16)")]
    [InlineData(3088, "width", "3088 is outside the allowed range 16..3072 (a multiple of 16); this model's pos_embed_max_size 192 x 16 allows no more")]
    public void Width_must_be_a_multiple_of_16_within_limits(int width, string field, string message)
    {
        var e = Single(Valid with { Width = width });
        Assert.Equal(field, e.Field);
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void The_largest_size_is_the_models_position_table_else_4096()
    {
        // SD3 Medium's 192 x 192 patch grid covers 3072 px (diffusers' PatchEmbed refuses more); unknown: 4096.
        Assert.Empty((Valid with { Width = 3072, Height = 3072 }).Validate());
        var unknown = Sd3ModelConfig.Sd3Medium with { PosEmbedMaxSize = null };
        Assert.Empty((Valid with { Width = 4096 }).Validate(unknown));
        Assert.Equal("4112 is outside the allowed range 16..4096 (a multiple of 16)", Single(Valid with { Width = 4112 }, unknown).Message);
        var tiny = new Sd3ModelConfig { PosEmbedMaxSize = 64 };
        Assert.Equal("height: 1040 is outside the allowed range 16..1024 (a multiple of 16); this model's pos_embed_max_size 64 x 16 allows no more",
            Single(Valid with { Height = 1040 }, tiny).ToString());
    }

    [Fact]
    public void Every_invalid_field_is_reported_with_its_range()
    {
        var r = Valid with
        {
            Height = 20, Steps = 0, GuidanceScale = double.NaN, Count = 17, MaxSequenceLength = 513, ClipSkip = -1,
        };
        var errors = r.Validate();
        Assert.Equal(["height", "steps", "guidance_scale", "count", "max_sequence_length", "clip_skip"], errors.Select(e => e.Field));
        Assert.Contains("1..1000", errors[1].Message);
        Assert.Contains("1..16", errors[3].Message);
        Assert.Contains("1..512", errors[4].Message);
        Assert.Equal("max_sequence_length: 513 is outside the allowed range 1..512", errors[4].ToString());
    }

    [Fact]
    public void Steps_above_1000_and_seed_count_mismatch()
    {
        Assert.Equal("steps", Single(Valid with { Steps = 1001 }).Field);
        var e = Single(Valid with { Count = 3, Seeds = [1, 2] });
        Assert.Equal("seeds", e.Field);
        Assert.Contains("give one seed (image i uses seed + i) or exactly 3", e.Message);
        Assert.Empty((Valid with { Count = 3, Seeds = [1, 2, 3] }).Validate());
        Assert.Empty((Valid with { Count = 3, Seeds = [1] }).Validate());
    }

    [Fact]
    public void Clip_skip_range_comes_from_the_model()
    {
        var model = new Sd3ModelConfig { ClipLayers = 12, Clip2Layers = 32 };
        Assert.Empty((Valid with { ClipSkip = 11 }).Validate(model));
        Assert.Contains("0..11", Assert.Single((Valid with { ClipSkip = 12 }).Validate(model)).Message);
    }

    [Fact]
    public void Image_to_image_checks_strength_size_and_steps()
    {
        var image = new RgbImage(64, 32, new byte[64 * 32 * 3]);
        var r = Valid with { InitImage = image, Width = 64, Height = 32 };
        Assert.Empty(r.Validate());
        Assert.Equal("strength", Single(r with { Strength = 0 }).Field);
        Assert.Contains("(0, 1]", Single(r with { Strength = 1.5 }).Message);
        Assert.Empty((r with { Steps = 2, Strength = 0.01 }).Validate()); // int(2 - 0.02) = 1: one step still runs
        var size = Single(r with { Width = 128 });
        Assert.Equal("init_image", size.Field);
        Assert.Contains("the image is 64x32 but width x height is 128x32", size.Message);
        Assert.Equal("latents", Single(r with { Latents = Tensor.Zeros(DType.Float32, new TensorShape(1, 16, 4, 8)) }).Field);
    }

    [Fact]
    public void Latents_must_match_count_channels_and_size()
    {
        var ok = Tensor.Zeros(DType.Float32, new TensorShape(2, 16, 8, 4));
        Assert.Empty((Valid with { Width = 32, Height = 64, Count = 2, Latents = ok }).Validate());
        var e = Single(Valid with { Width = 32, Height = 64, Count = 1, Latents = ok });
        Assert.Equal("latents", e.Field);
        Assert.Contains("[1, 16, 8, 4]", e.Message);
        var nan = Tensor.FromArray(new float[] { 0, float.NaN, 0, 0 }, 1, 1, 2, 2);
        var errors = (Valid with { Width = 16, Height = 16, Latents = nan }).Validate(new Sd3ModelConfig { LatentChannels = 1 });
        Assert.Contains("NaN", Assert.Single(errors).Message);
    }

    [Fact]
    public void Unreadable_files_become_field_errors()
    {
        using var tmp = new TempDirectory();
        File.WriteAllText(tmp.File("not.png"), "hello");
        var (image, error) = GenerationRequest.LoadInitImage(tmp.File("not.png"));
        Assert.Null(image);
        Assert.Equal("init_image", error!.Field);
        Assert.Contains("not a PNG", error.Message);
        var (latents, lerror) = GenerationRequest.LoadLatents(tmp.File("missing.npy"));
        Assert.Null(latents);
        Assert.Equal("latents", lerror!.Field);
    }

    [Fact]
    public void Overlong_prompts_are_refused()
    {
        var e = Single(Valid with { NegativePrompt3 = new string('x', 10_001) });
        Assert.Equal("negative_prompt_3", e.Field);
    }
}
