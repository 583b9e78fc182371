using Sd3Mesh.Pipeline.Guidance;
using Sd3Mesh.Pipeline.Imaging;
using Sd3Mesh.Pipeline.Latents;
using Sd3Mesh.Pipeline.Sampling;
using Sd3Mesh.Pipeline.Tests.Fakes;
using Sd3Mesh.Pipeline.Vae;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Tests.Pipeline;

public class Sd3PipelineTests
{
    private static GenerationRequest Request(string prompt = "a photo of a cat") => new()
    {
        Prompt = prompt,
        NegativePrompt = "blurry",
        Width = 32,
        Height = 48,
        Steps = 4,
        GuidanceScale = 5.0,
        Seeds = [42],
        MaxSequenceLength = 16,
    };

    /// <summary>mean of one assembled prompt-embedding row and of its pooled row, in float64 from the fakes' formulas.</summary>
    private static (double E, double P) ReferenceConditioning(string prompt, string? prompt2, string? prompt3, int? clipSkip, int maxSeq, bool t5 = true)
    {
        var l = FakeSd3.TokenizerL.Encode(prompt, 77).Ids;
        var g = FakeSd3.TokenizerG.Encode(prompt2 ?? prompt, 77).Ids;
        int fromEnd = 2 + (clipSkip ?? 0);
        double sum = 0;
        foreach (var id in l) for (int f = 0; f < FakeSd3.ClipLWidth; f++) sum += FakeClipEncoder.Hidden(id, f, fromEnd);
        foreach (var id in g) for (int f = 0; f < FakeSd3.ClipGWidth; f++) sum += FakeClipEncoder.Hidden(id, f, fromEnd);
        if (t5)
            foreach (var id in FakeSd3.TokenizerT5.Encode(prompt3 ?? prompt, maxSeq).Ids)
                for (int d = 0; d < FakeSd3.Joint; d++) sum += FakeT5Encoder.State(id, d);
        // Without T5, diffusers (58eb52c) pads with max_sequence_length zero rows.
        double e = sum / ((77.0 + maxSeq) * FakeSd3.Joint);
        double p = 0;
        for (int j = 0; j < FakeSd3.PooledL; j++) p += FakeClipEncoder.Pooled(l.Sum(), j);
        for (int j = 0; j < FakeSd3.PooledG; j++) p += FakeClipEncoder.Pooled(g.Sum(), j);
        return (e, p / (FakeSd3.PooledL + FakeSd3.PooledG));
    }

    /// <summary>The denoising recurrence in float64: x += (sigma[i+1] - sigma[i]) * (u + g (c - u)).</summary>
    private static double[] ReferenceLoop(double[] x, FlowMatchSchedule schedule, double guidance, (double E, double P) pos, (double E, double P)? neg)
    {
        x = (double[])x.Clone();
        for (int i = schedule.BeginIndex; i < schedule.Timesteps.Count; i++)
        {
            double t = schedule.Timesteps[i];
            double dt = (double)schedule.Sigmas[i + 1] - schedule.Sigmas[i];
            for (int k = 0; k < x.Length; k++)
            {
                double c = FakeTransformer.A * x[k] + FakeTransformer.B * pos.E + FakeTransformer.C * pos.P + FakeTransformer.D * t / 1000;
                double v = c;
                if (neg is { } n)
                {
                    double u = FakeTransformer.A * x[k] + FakeTransformer.B * n.E + FakeTransformer.C * n.P + FakeTransformer.D * t / 1000;
                    v = u + guidance * (c - u);
                }
                x[k] += dt * v;
            }
        }
        return x;
    }

    private static void AssertClose(double[] expected, float[] actual, double tolerance = 2e-5)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * (1 + Math.Abs(expected[i])),
                $"element {i}: expected {expected[i]}, got {actual[i]}");
    }

    [Theory]
    [InlineData(CfgMode.Batched)]
    [InlineData(CfgMode.Split)]
    public async Task Text_to_image_loop_matches_a_float64_reference_of_the_same_recurrence(CfgMode mode)
    {
        var fakes = new FakeSd3();
        var pipeline = new Sd3Pipeline(fakes.Components());
        var request = Request() with { CfgMode = mode };
        var result = await pipeline.GenerateAsync(request);

        var noise = LatentNoise.Create([42], FakeSd3.Channels, 6, 4).ToArray<float>();
        var schedule = new FlowMatchEulerScheduler(FlowMatchSchedulerConfig.Sd3Medium).SetTimesteps(4);
        var expected = ReferenceLoop(Array.ConvertAll(noise, v => (double)v), schedule, 5.0,
            ReferenceConditioning("a photo of a cat", null, null, null, 16), ReferenceConditioning("blurry", null, null, null, 16));
        Assert.Equal(new TensorShape(1, 4, 6, 4), result.Latents.Shape);
        AssertClose(expected, result.Latents.ToArray<float>());

        // Batched: one call of batch 2 per step; split: two calls of batch 1.
        Assert.Equal(mode == CfgMode.Batched ? 4 : 8, fakes.Denoiser.Calls);
        Assert.All(fakes.Denoiser.Log, call => Assert.Equal(mode == CfgMode.Batched ? 2 : 1, call.Batch));
        Assert.Equal(schedule.Timesteps.ToHashSet(), fakes.Denoiser.Log.Select(c => c.Timestep).ToHashSet());

        // Decoded pixels: the fake decoder's affine map of latents/scaling + shift, then diffusers' rounding.
        var image = Assert.Single(result.Images).Image!;
        Assert.Equal((32, 48), (image.Width, image.Height));
        for (int y = 0; y < 48; y += 7)
            for (int x = 0; x < 32; x += 5)
                for (int c = 0; c < 3; c++)
                {
                    double v = FakeVaeDecoder.Bias(c);
                    for (int k = 0; k < 4; k++)
                        v += FakeVaeDecoder.Weight(c, k) * (expected[(k * 6 + y / 8) * 4 + x / 8] / 1.5305 + 0.0609);
                    double unit = Math.Clamp(v / 2 + 0.5, 0, 1) * 255;
                    var px = image[x, y];
                    byte got = c == 0 ? px.R : c == 1 ? px.G : px.B;
                    Assert.True(Math.Abs(got - Math.Round(unit)) <= 1, $"pixel ({x},{y}) channel {c}: {got} vs {unit}");
                }
    }

    [Fact]
    public async Task Batched_and_split_guidance_give_identical_latents()
    {
        var a = await new Sd3Pipeline(new FakeSd3().Components()).GenerateAsync(Request() with { CfgMode = CfgMode.Batched, OutputType = OutputType.Latent });
        var b = await new Sd3Pipeline(new FakeSd3().Components()).GenerateAsync(Request() with { CfgMode = CfgMode.Split, OutputType = OutputType.Latent });
        Assert.Equal(a.Latents.ToArray<float>(), b.Latents.ToArray<float>());
    }

    [Fact]
    public async Task Guidance_scale_of_one_runs_a_single_pass_and_never_encodes_the_negative_prompt()
    {
        var fakes = new FakeSd3();
        var result = await new Sd3Pipeline(fakes.Components()).GenerateAsync(Request() with { GuidanceScale = 1.0, OutputType = OutputType.Latent });
        Assert.Equal(4, fakes.Denoiser.Calls);
        Assert.All(fakes.Denoiser.Log, call => Assert.Equal(1, call.Batch));
        Assert.Equal(1, fakes.ClipL.Calls);
        Assert.Equal(1, fakes.T5.Calls);

        var noise = LatentNoise.Create([42], FakeSd3.Channels, 6, 4).ToArray<float>();
        var schedule = new FlowMatchEulerScheduler(FlowMatchSchedulerConfig.Sd3Medium).SetTimesteps(4);
        AssertClose(ReferenceLoop(Array.ConvertAll(noise, v => (double)v), schedule, 1.0, ReferenceConditioning("a photo of a cat", null, null, null, 16), null),
            result.Latents.ToArray<float>());
        Assert.Null(Assert.Single(result.Images).Image);
    }

    [Fact]
    public async Task Prompt_2_and_3_and_clip_skip_reach_their_encoders()
    {
        var fakes = new FakeSd3();
        var request = Request() with { Prompt2 = "an oil painting", Prompt3 = "a cat on a mat", ClipSkip = 1, OutputType = OutputType.Latent };
        var result = await new Sd3Pipeline(fakes.Components()).GenerateAsync(request);
        var noise = LatentNoise.Create([42], FakeSd3.Channels, 6, 4).ToArray<float>();
        var schedule = new FlowMatchEulerScheduler(FlowMatchSchedulerConfig.Sd3Medium).SetTimesteps(4);
        // diffusers applies clip_skip to the prompt only; the negative prompt uses hidden_states[-2].
        AssertClose(ReferenceLoop(Array.ConvertAll(noise, v => (double)v), schedule, 5.0,
                ReferenceConditioning("a photo of a cat", "an oil painting", "a cat on a mat", 1, 16),
                ReferenceConditioning("blurry", null, null, null, 16)),
            result.Latents.ToArray<float>());
        Assert.Contains(fakes.ClipG.Inputs, ids => ids.SequenceEqual(FakeSd3.TokenizerG.Encode("an oil painting", 77).Ids));
    }

    [Fact]
    public async Task Without_T5_its_part_is_zeros_of_max_sequence_length_by_joint_attention_dim()
    {
        var fakes = new FakeSd3();
        var result = await new Sd3Pipeline(fakes.Components(withT5: false)).GenerateAsync(Request() with { OutputType = OutputType.Latent });
        Assert.Equal(0, fakes.T5.Calls);
        Assert.Contains(result.Warnings, w => w.Contains("T5"));
        var noise = LatentNoise.Create([42], FakeSd3.Channels, 6, 4).ToArray<float>();
        var schedule = new FlowMatchEulerScheduler(FlowMatchSchedulerConfig.Sd3Medium).SetTimesteps(4);
        AssertClose(ReferenceLoop(Array.ConvertAll(noise, v => (double)v), schedule, 5.0,
                ReferenceConditioning("a photo of a cat", null, null, null, 16, t5: false), ReferenceConditioning("blurry", null, null, null, 16, t5: false)),
            result.Latents.ToArray<float>());

        var fakes2 = new FakeSd3();
        await new Sd3Pipeline(fakes2.Components()).GenerateAsync(Request() with { UseT5 = false, OutputType = OutputType.Latent });
        Assert.Equal(0, fakes2.T5.Calls);
    }

    [Fact]
    public async Task Count_makes_one_image_per_seed_with_seed_plus_i()
    {
        var fakes = new FakeSd3();
        var result = await new Sd3Pipeline(fakes.Components()).GenerateAsync(Request() with { Count = 3, Seeds = [7] });
        Assert.Equal([7UL, 8UL, 9UL], result.Images.Select(i => i.Seed));
        Assert.Equal(new TensorShape(3, 4, 6, 4), result.Latents.Shape);
        // Image 1 equals a single-image job with seed 8: rows are independent.
        var single = await new Sd3Pipeline(new FakeSd3().Components()).GenerateAsync(Request() with { Seeds = [8] });
        Assert.Equal(single.Latents.ToArray<float>(), result.Latents.Slice0(1, 1).ToArray<float>());
        Assert.Equal(single.Images[0].Image!.Pixels, result.Images[1].Image!.Pixels);
        Assert.All(fakes.Denoiser.Log, call => Assert.Equal(6, call.Batch));
        Assert.Equal(3, fakes.Decoder.Calls); // one image at a time
    }

    [Fact]
    public async Task A_second_identical_prompt_is_served_from_the_embedding_cache()
    {
        var fakes = new FakeSd3();
        var pipeline = new Sd3Pipeline(fakes.Components());
        await pipeline.GenerateAsync(Request() with { OutputType = OutputType.Latent });
        Assert.Equal(2, fakes.ClipL.Calls); // prompt and negative prompt
        Assert.Equal(2, fakes.T5.Calls);
        long misses = pipeline.Cache!.Misses;

        var again = await pipeline.GenerateAsync(Request() with { Seeds = [43], OutputType = OutputType.Latent });
        Assert.Equal(2, fakes.ClipL.Calls);
        Assert.Equal(2, fakes.ClipG.Calls);
        Assert.Equal(2, fakes.T5.Calls);
        Assert.Equal(misses, pipeline.Cache.Misses);
        Assert.Equal(6, pipeline.Cache.Hits);
        Assert.Equal(0, again.Timings.Calls("text_encoder"));

        await pipeline.GenerateAsync(Request("a photo of a dog") with { OutputType = OutputType.Latent });
        Assert.Equal(3, fakes.ClipL.Calls); // only the new prompt; the negative is cached
    }

    [Fact]
    public async Task Image_to_image_starts_at_the_strength_step_from_the_encoded_image()
    {
        var fakes = new FakeSd3();
        var pixels = new byte[32 * 48 * 3];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i * 7 % 256);
        var init = new RgbImage(32, 48, pixels);
        var request = Request() with { InitImage = init, Strength = 0.6, Steps = 10, OutputType = OutputType.Latent };
        var result = await new Sd3Pipeline(fakes.Components()).GenerateAsync(request);

        // 10 * 0.6 = 6 steps run, from index 4.
        var schedule = new FlowMatchEulerScheduler(FlowMatchSchedulerConfig.Sd3Medium).SetTimesteps(10).ForStrength(0.6);
        Assert.Equal(4, schedule.BeginIndex);
        Assert.Equal(6, fakes.Denoiser.Calls);
        Assert.Equal(schedule.Timesteps.Skip(4).ToArray(), fakes.Denoiser.Log.Select(c => c.Timestep).ToArray());
        Assert.Equal(1, fakes.Encoder.Calls);

        // Reference start latents: posterior sample of the fake encoder, normalized, noised at sigma[4].
        var posteriorNoise = new float[4 * 6 * 4];
        SeededRandom.FillNormal(posteriorNoise, 42, SeedPlan.PosteriorStream);
        var noise = new float[posteriorNoise.Length];
        SeededRandom.FillNormal(noise, 42, SeedPlan.NoiseStream);
        double sigma = schedule.Sigmas[4];
        var x0 = new double[noise.Length];
        for (int k = 0; k < 4; k++)
            for (int y = 0; y < 6; y++)
                for (int x = 0; x < 4; x++)
                {
                    double sum = 0;
                    for (int dy = 0; dy < 8; dy++)
                        for (int dx = 0; dx < 8; dx++)
                            sum += 2 * (pixels[((y * 8 + dy) * 32 + x * 8 + dx) * 3 + k % 3] / 255.0) - 1;
                    int i = (k * 6 + y) * 4 + x;
                    double z = FakeVaeEncoder.Mean(sum / 64, k) + Math.Exp(0.5 * FakeVaeEncoder.LogVar(k)) * posteriorNoise[i];
                    x0[i] = sigma * noise[i] + (1 - sigma) * ((z - 0.0609) * 1.5305);
                }
        AssertClose(ReferenceLoop(x0, schedule, 5.0, ReferenceConditioning("a photo of a cat", null, null, null, 16),
            ReferenceConditioning("blurry", null, null, null, 16)), result.Latents.ToArray<float>());
        Assert.Equal(0.6, result.Images[0].Metadata.Strength);
    }

    [Fact]
    public async Task Supplied_latents_replace_the_noise()
    {
        var fakes = new FakeSd3();
        var given = new float[4 * 6 * 4];
        for (int i = 0; i < given.Length; i++) given[i] = (i % 5 - 2) * 0.3f;
        var result = await new Sd3Pipeline(fakes.Components()).GenerateAsync(Request() with
        {
            Latents = Tensor.FromArray(given, 1, 4, 6, 4),
            OutputType = OutputType.Latent,
        });
        var schedule = new FlowMatchEulerScheduler(FlowMatchSchedulerConfig.Sd3Medium).SetTimesteps(4);
        AssertClose(ReferenceLoop(Array.ConvertAll(given, v => (double)v), schedule, 5.0, ReferenceConditioning("a photo of a cat", null, null, null, 16),
            ReferenceConditioning("blurry", null, null, null, 16)), result.Latents.ToArray<float>());
        Assert.Equal(-0.6f, given[0]); // the caller's array is left untouched
    }

    [Fact]
    public async Task Reports_progress_per_stage_and_per_step()
    {
        var events = new List<PipelineProgress>();
        var stepLatents = new List<float[]>();
        var result = await new Sd3Pipeline(new FakeSd3().Components()).GenerateAsync(Request(), p =>
        {
            events.Add(p);
            if (p.Latents is { } latents) stepLatents.Add(latents.ToArray<float>()); // valid only now: copy
        }, latentsAt: _ => true);
        Assert.Equal(Enum.GetValues<PipelineStage>(), events.Where(e => e.Kind == ProgressKind.StageStarted).Select(e => e.Stage));
        Assert.Equal([1, 2, 3, 4], events.Where(e => e.Kind == ProgressKind.Step).Select(e => e.Step));
        Assert.All(events.Where(e => e.Kind == ProgressKind.Step), e => Assert.Equal(4, e.TotalSteps));
        // Step events carry the latents after that step; the last are the result's, and they change every step.
        Assert.Equal(4, stepLatents.Count);
        Assert.Equal(result.Latents.ToArray<float>(), stepLatents[^1]);
        Assert.Equal(4, stepLatents.Select(l => string.Join(',', l.Take(8))).Distinct().Count());
        Assert.All(events.Where(e => e.Kind != ProgressKind.Step), e => Assert.Null(e.Latents));
        Assert.Equal(4, result.Timings.Calls("transformer"));
        Assert.Equal(2, result.Timings.Calls("text_encoder"));
        Assert.Equal(1, result.Timings.Calls("vae_decoder"));
        Assert.True(result.Total >= result.Timings["transformer"]);
    }

    [Fact]
    public async Task A_job_resumed_from_a_checkpoint_runs_only_the_remaining_steps_and_ends_with_the_same_png()
    {
        Tensor? afterTwo = null;
        var whole = await new Sd3Pipeline(new FakeSd3().Components()).GenerateAsync(Request(), p =>
        {
            if (p is { Step: 2, Latents: { } latents }) afterTwo = latents.Clone(); // the loop's own buffer: copy
        }, latentsAt: step => step == 2);

        var fakes = new FakeSd3();
        var steps = new List<int>();
        var resumed = await new Sd3Pipeline(fakes.Components()).GenerateAsync(Request() with { Resume = new DenoisingCheckpoint(2, afterTwo!) },
            p => { if (p.Kind == ProgressKind.Step) steps.Add(p.Step); });
        Assert.Equal([3, 4], steps);
        Assert.Equal(2, resumed.Timings.Calls("transformer"));
        Assert.Equal(whole.Latents.ToArray<float>(), resumed.Latents.ToArray<float>());
        Assert.Equal(whole.Images[0].ToPng(), resumed.Images[0].ToPng());

        // After the last step only the decode is left.
        var decodeOnly = await new Sd3Pipeline(new FakeSd3().Components()).GenerateAsync(Request() with { Resume = new DenoisingCheckpoint(4, whole.Latents) });
        Assert.Equal(0, decodeOnly.Timings.Calls("transformer"));
        Assert.Equal(whole.Images[0].ToPng(), decodeOnly.Images[0].ToPng());
    }

    [Fact]
    public void A_checkpoint_from_another_request_is_refused()
    {
        var model = new FakeSd3().Components().Model;
        var errors = (Request() with { Resume = new DenoisingCheckpoint(5, Tensor.FromArray(new float[4 * 4 * 4], 1, 4, 4, 4)) }).Validate(model);
        Assert.Equal(["resume: step 5 is outside the job's denoising steps 0..4",
            "resume: shape [1, 4, 4, 4] does not match [count, channels, height/8, width/8] = [1, 4, 6, 4]"], errors.Select(e => e.ToString()));
        Assert.Empty((Request() with { Resume = new DenoisingCheckpoint(4, Tensor.FromArray(new float[4 * 6 * 4], 1, 4, 6, 4)) }).Validate(model));
    }

    [Fact]
    public async Task Invalid_requests_are_rejected_before_any_model_call()
    {
        var fakes = new FakeSd3();
        var e = await Assert.ThrowsAsync<GenerationRequestException>(() =>
            new Sd3Pipeline(fakes.Components()).GenerateAsync(Request() with { Width = 30, Steps = 0 }));
        Assert.Equal(["width", "steps"], e.Errors.Select(x => x.Field));
        Assert.Equal(0, fakes.ClipL.Calls + fakes.Denoiser.Calls);
    }

    [Fact]
    public async Task Truncated_prompts_are_reported()
    {
        var longPrompt = string.Join(' ', Enumerable.Repeat("cat", 100));
        var result = await new Sd3Pipeline(new FakeSd3().Components()).GenerateAsync(Request(longPrompt) with { OutputType = OutputType.Latent });
        Assert.Contains(result.Warnings, w => w.Contains("CLIP can only handle sequences up to 77 tokens") && w.EndsWith(string.Join(' ', Enumerable.Repeat("cat", 25))));
        Assert.Contains(result.Warnings, w => w.Contains("`max_sequence_length` is set to 16 tokens"));
    }

    [Fact]
    public async Task Same_seed_gives_byte_identical_pngs()
    {
        var a = await new Sd3Pipeline(new FakeSd3().Components()).GenerateAsync(Request());
        var b = await new Sd3Pipeline(new FakeSd3().Components()).GenerateAsync(Request());
        Assert.Equal(a.Images[0].ToPng(), b.Images[0].ToPng());
        var c = await new Sd3Pipeline(new FakeSd3().Components()).GenerateAsync(Request() with { Seeds = [43] });
        Assert.NotEqual(a.Images[0].ToPng(), c.Images[0].ToPng());
    }
}
