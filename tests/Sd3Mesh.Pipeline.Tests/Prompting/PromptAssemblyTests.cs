using Sd3Mesh.Pipeline.Guidance;
using Sd3Mesh.Pipeline.Latents;
using Sd3Mesh.Pipeline.Prompting;
using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Pipeline.Tests.Fakes;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Tests.Prompting;

public class PromptAssemblyTests
{
    private static Tensor Filled(float value, params long[] shape)
    {
        var data = new float[new TensorShape(shape).ElementCount];
        for (int i = 0; i < data.Length; i++) data[i] = value + i * 1e-3f;
        return Tensor.FromArray(data, shape);
    }

    [Fact]
    public void Clip_features_are_concatenated_zero_padded_to_the_T5_width_then_T5_follows_on_the_sequence()
    {
        var l = Filled(1, 2, 77, 8);
        var g = Filled(2, 2, 77, 12);
        var t5 = Filled(3, 2, 5, 24);
        var e = PromptEmbeddingAssembler.Assemble(l, g, t5, Filled(4, 2, 4), Filled(5, 2, 6));
        Assert.Equal(new TensorShape(2, 82, 24), e.Embeds.Shape);
        Assert.Equal(new TensorShape(2, 10), e.Pooled.Shape);
        var v = e.Embeds.ToArray<float>();
        float At(int b, int s, int f) => v[(b * 82 + s) * 24 + f];
        var lv = l.ToArray<float>();
        var gv = g.ToArray<float>();
        var tv = t5.ToArray<float>();
        for (int b = 0; b < 2; b++)
            for (int s = 0; s < 77; s += 19)
            {
                for (int f = 0; f < 8; f++) Assert.Equal(lv[(b * 77 + s) * 8 + f], At(b, s, f));
                for (int f = 0; f < 12; f++) Assert.Equal(gv[(b * 77 + s) * 12 + f], At(b, s, 8 + f));
                for (int f = 20; f < 24; f++) Assert.Equal(0f, At(b, s, f));
            }
        for (int s = 0; s < 5; s++)
            for (int f = 0; f < 24; f++) Assert.Equal(tv[(1 * 5 + s) * 24 + f], At(1, 77 + s, f));
        Assert.Equal(Tensor.Concat([Filled(4, 2, 4), Filled(5, 2, 6)], 1).ToArray<float>(), e.Pooled.ToArray<float>());
    }

    [Fact]
    public void Full_size_shapes_are_77_plus_256_by_4096_and_2048_pooled()
    {
        var e = PromptEmbeddingAssembler.Assemble(Tensor.Zeros(DType.Float32, new TensorShape(1, 77, 768)), Tensor.Zeros(DType.Float32, new TensorShape(1, 77, 1280)),
            PromptEmbeddingAssembler.T5Zeros(1, 256, 4096), Tensor.Zeros(DType.Float32, new TensorShape(1, 768)), Tensor.Zeros(DType.Float32, new TensorShape(1, 1280)));
        Assert.Equal(new TensorShape(1, 333, 4096), e.Embeds.Shape);
        Assert.Equal(new TensorShape(1, 2048), e.Pooled.Shape);
    }

    /// <summary>
    /// diffusers' _get_t5_prompt_embeds without text_encoder_3 (58eb52c): zeros of shape
    /// (batch * num_images_per_prompt, max_sequence_length, joint_attention_dim) after CLIP's 77 rows.
    /// </summary>
    [Theory]
    [InlineData(false, 16)]
    [InlineData(true, 16)]
    [InlineData(false, 256)]
    public async Task Without_T5_the_embeddings_end_in_max_sequence_length_zero_rows(bool modelHasT5, int maxSequenceLength)
    {
        var fakes = new FakeSd3();
        var encoder = new PromptEncoder(fakes.Components(withT5: modelHasT5));
        var result = await encoder.EncodeAsync(new PromptTexts("a photo of a cat"), null, maxSequenceLength, useT5: false, numImages: 2);
        int rows = 77 + maxSequenceLength;
        Assert.Equal(new TensorShape(2, rows, FakeSd3.Joint), result.Embeddings.Embeds.Shape);
        var values = result.Embeddings.Embeds.ToArray<float>();
        for (int b = 0; b < 2; b++)
        {
            var clip = values.AsSpan(b * rows * FakeSd3.Joint, 77 * FakeSd3.Joint);
            var t5 = values.AsSpan((b * rows + 77) * FakeSd3.Joint, maxSequenceLength * FakeSd3.Joint);
            Assert.Equal(maxSequenceLength * FakeSd3.Joint, t5.Count(0f));
            Assert.True(clip.Count(0f) < clip.Length, "the CLIP rows carry the fake encoders' values");
        }
        Assert.Equal(0, fakes.T5.Calls);
    }

    [Fact]
    public void Clip_wider_than_T5_is_cut_as_torch_pad_with_a_negative_amount()
    {
        var e = PromptEmbeddingAssembler.Assemble(Filled(1, 1, 77, 16), Filled(2, 1, 77, 16), Filled(3, 1, 4, 20), Filled(0, 1, 2), Filled(0, 1, 2));
        Assert.Equal(new TensorShape(1, 81, 20), e.Embeds.Shape);
        Assert.Equal(Filled(2, 1, 77, 16).ToArray<float>()[3], e.Embeds.ToArray<float>()[16 + 3]);
    }

    [Fact]
    public void Fp16_encoder_outputs_are_widened_to_float32()
    {
        var half = Filled(0.5f, 1, 77, 8).ToDType(DType.Float16);
        var e = PromptEmbeddingAssembler.Assemble(half, Filled(2, 1, 77, 8), Filled(3, 1, 1, 16), Filled(0, 1, 2).ToDType(DType.Float16), Filled(0, 1, 2));
        Assert.Equal(DType.Float32, e.Embeds.DType);
        Assert.Equal(0.5f, e.Embeds.ToArray<float>()[0]);
    }

    [Fact]
    public void Rows_repeat_per_prompt_as_num_images_per_prompt()
    {
        var t = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 2, 2);
        Assert.Equal([1f, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4], TensorOps.RepeatRows(t, 3).ToArray<float>());
        Assert.Equal(new TensorShape(6, 2), TensorOps.RepeatRows(t, 3).Shape);
    }

    [Fact]
    public void Guidance_is_uncond_plus_scale_times_the_difference()
    {
        float[] u = [1f, -2f, 0.5f, 3f], c = [2f, -1f, 0.25f, 3f], r = new float[4];
        ClassifierFreeGuidance.Combine(u, c, 7.0, r);
        for (int i = 0; i < 4; i++) Assert.Equal(u[i] + 7.0 * (c[i] - u[i]), r[i], 6);
        Assert.Equal([8f, 5f, -1.25f, 3f], r);
        Assert.False(ClassifierFreeGuidance.IsEnabled(1.0));
        Assert.True(ClassifierFreeGuidance.IsEnabled(1.01));
    }

    [Fact]
    public void Seed_plan_uses_seed_plus_i_or_one_seed_per_image()
    {
        Assert.Equal([5UL, 6UL, 7UL], SeedPlan.Resolve([5], 3));
        Assert.Equal([9UL, 1UL], SeedPlan.Resolve([9, 1], 2));
        Assert.Equal(3, SeedPlan.Resolve([], 3).Distinct().Count());
        Assert.Throws<ArgumentException>(() => SeedPlan.Resolve([1, 2], 3));
        // Per-image noise does not depend on the batch it is generated in.
        var three = LatentNoise.Create([5, 6, 7], 4, 2, 3);
        Assert.Equal(LatentNoise.Create([6], 4, 2, 3).ToArray<float>(), three.Slice0(1, 1).ToArray<float>());
    }

    [Fact]
    public async Task Cache_is_a_bounded_lru_counting_hits_and_misses()
    {
        var cache = new PromptEmbeddingCache(maxEntries: 2);
        int computed = 0;
        Task<Tensor> Make() { computed++; return Task.FromResult(Tensor.Zeros(DType.Float32, new TensorShape(4))); }
        var a = new PromptEmbeddingCache.Key("text_encoder_3", "a", 256);
        var b = a with { Text = "b" };
        var c = a with { Text = "c" };
        await cache.GetOrAddAsync(a, Make);
        await cache.GetOrAddAsync(b, Make);
        await cache.GetOrAddAsync(a, Make); // hit; b is now least recent
        await cache.GetOrAddAsync(c, Make); // evicts b
        await cache.GetOrAddAsync(a, Make); // hit
        await cache.GetOrAddAsync(b, Make); // miss again
        Assert.Equal(4, computed);
        Assert.Equal(2, cache.Hits);
        Assert.Equal(4, cache.Misses);
        Assert.Equal(2, cache.Count);
        await cache.GetOrAddAsync(a with { MaxLength = 77 }, Make); // another max length is another key
        Assert.Equal(5, computed);

        var bytes = new PromptEmbeddingCache(maxEntries: 100, maxBytes: 40);
        for (int i = 0; i < 5; i++) await bytes.GetOrAddAsync(a with { Text = i.ToString() }, Make); // 16 bytes each
        Assert.Equal(2, bytes.Count);
        Assert.Equal(32, bytes.Bytes);
    }

    [Fact]
    public async Task Clip_cache_key_includes_the_hidden_state_layer()
    {
        var cache = new PromptEmbeddingCache();
        var enc = new ClipTextEncoding(Tensor.Zeros(DType.Float32, new TensorShape(1, 2)), Tensor.Zeros(DType.Float32, new TensorShape(1, 77, 2)));
        int n = 0;
        await cache.GetOrAddAsync(new PromptEmbeddingCache.Key("text_encoder/hidden_states[-2]", "x", 77), () => { n++; return Task.FromResult(enc); });
        await cache.GetOrAddAsync(new PromptEmbeddingCache.Key("text_encoder/hidden_states[-3]", "x", 77), () => { n++; return Task.FromResult(enc); });
        Assert.Equal(2, n);
    }
}
