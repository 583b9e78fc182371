using Sd3Mesh.Pipeline.Denoising;
using System.Text.Json.Nodes;
using Sd3Mesh.Models;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Models.Tests;
using Sd3Mesh.Models.Tests.Reference;
using Sd3Mesh.Models.Tests.Tokenizers;
using Sd3Mesh.Models.Weights;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Pipeline.Tests.Support;
using Sd3Mesh.Tensors;
using static Sd3Mesh.Models.Tests.Tokenizers.TokenizerJsonBuilder;

namespace Sd3Mesh.Pipeline.Tests.Parity;

/// <summary>
/// End to end, as a diffusers user would run it: a tiny SD3 folder in diffusers' layout (safetensors written by
/// our writer, seeded weights), converted with `models convert`'s converter, run by the pipeline on the CPU with
/// a prompt longer than CLIP's 77 tokens that holds "wow!" (with and without T5), or one with CLIP's special
/// tokens typed in it, a negative prompt and guidance 4.5. Each stage is
/// compared with an independent reference: token ids with Hugging Face's tokenizers (transformers 5's CLIP and
/// T5 pipelines), encoders, assembled embeddings and every step's latents with the float64 references of the
/// math (diffusers' encode_prompt, the flow-matching Euler schedule and classifier-free guidance). A failure
/// names the first stage where they part.
/// </summary>
public sealed class DiffusersParityTests(DiffusersParityTests.TinyFolder tiny, Xunit.Abstractions.ITestOutputHelper output)
    : IClassFixture<DiffusersParityTests.TinyFolder>
{
    private const string Prompt =
        "a majestic lighthouse standing on a rocky cliff above a stormy sea, huge waves crashing, dark clouds, a single beam of warm light " +
        "cutting through heavy rain, white birds, a small wooden boat, foam, dramatic, rich texture, muted colours, a quiet sense of courage " +
        "facing the wild ocean, wow! distant hills peeking through a narrow gap, oil painting, highly detailed, cinematic lighting, golden hour, " +
        "trending on artstation, a dramatic sky at dusk";
    /// <summary>CLIP's special tokens typed in a prompt: whole tokens there, and CLIP pools at the first &lt;|endoftext|&gt;.</summary>
    private const string TypedSpecialTokens = "a cat<|endoftext|> on a wow! mat <|startoftext|>";
    private const string Negative = "blurry, low quality, watermark";
    private static readonly string[] Texts = [Prompt, TypedSpecialTokens, Negative];
    private const double Guidance = 4.5;
    private const int Steps = 3, Size = 64, MaxSequenceLength = 256;

    /// <summary>The diffusers folder, its conversion (opened on the CPU) and Hugging Face's ids, shared by the cases.</summary>
    public sealed class TinyFolder : IDisposable
    {
        private readonly TempDirectory _dir = new();

        public TinyFolder()
        {
            DiffusersFixture.Write(_dir.File("diffusers"), Set, Weights);
            ModelConverter.Convert(_dir.File("diffusers"), _dir.File("onnx"), DType.Float32);
            Model = OnnxSd3Model.Open(_dir.File("onnx"));
            Ids = ReferenceIds(_dir.Path);
        }

        public ModelSet Set { get; } = Presets.Tiny();
        public RandomWeights Weights { get; } = new(2026);
        public OnnxSd3Model Model { get; }
        public (long[][] ClipL, long[][] ClipG, long[][] T5) Ids { get; }

        public void Dispose()
        {
            Model.Dispose();
            _dir.Dispose();
        }
    }

    private sealed record Check(string Stage, double Error, double Tolerance)
    {
        public bool Ok => Error <= Tolerance;
        public override string ToString() => $"{Stage}: {(double.IsNaN(Error) ? "differs" : $"relative error {Error:E2}")} (tolerance {Tolerance:E0}) {(Ok ? "ok" : "PARTS")}";
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(0, false)]
    [InlineData(1, true)]
    public async Task Prompt_with_negative_prompt_and_guidance_4_5_matches_the_reference_stage_by_stage(int prompt, bool useT5)
    {
        var (set, weights, model) = (tiny.Set, tiny.Weights, tiny.Model);
        var clipL = new RecordingClip(model.Components.TextEncoder);
        var clipG = new RecordingClip(model.Components.TextEncoder2);
        var t5 = new RecordingT5(model.Components.TextEncoder3!);
        var transformer = new RecordingVelocityModel(((OnnxDenoiser)model.Components.Transformer).Transformer);
        var components = model.Components with { TextEncoder = clipL, TextEncoder2 = clipG, TextEncoder3 = t5, Transformer = new HostDenoiser(transformer) };
        var result = await new Sd3Pipeline(components).GenerateAsync(new GenerationRequest
        {
            Prompt = Texts[prompt], NegativePrompt = Negative, GuidanceScale = Guidance, Steps = Steps, Width = Size, Height = Size,
            Seeds = [7], UseT5 = useT5, MaxSequenceLength = MaxSequenceLength, OutputType = OutputType.Latent,
        });
        Assert.Equal(Texts[prompt] == Prompt,
            result.Warnings.Any(w => w.StartsWith("The following part of your input was truncated because CLIP", StringComparison.Ordinal)));

        var checks = new List<Check>();
        void Compare(string stage, ReadOnlySpan<float> actual, double[] expected, double tolerance) =>
            checks.Add(new Check(stage, actual.Length == expected.Length ? Ref.RelL2(actual, expected) : double.NaN, tolerance));

        // 1. Token ids: Hugging Face's tokenizers on the pipelines transformers 5 builds for CLIPTokenizer and T5TokenizerFast.
        int[] used = [prompt, 2]; // positive, negative
        long[][] Pick(long[][] all) => [.. used.Select(i => all[i])];
        var ids = (ClipL: Pick(tiny.Ids.ClipL), ClipG: Pick(tiny.Ids.ClipG), T5: Pick(tiny.Ids.T5));
        var rows = new List<(string, List<long[]>, long[][])>
        {
            ("token ids, CLIP-L", clipL.Calls.Select(c => c.Ids).ToList(), ids.ClipL),
            ("token ids, CLIP-G", clipG.Calls.Select(c => c.Ids).ToList(), ids.ClipG),
        };
        if (useT5) rows.Add(("token ids, T5", t5.Calls.Select(c => c.Ids).ToList(), ids.T5));
        else Assert.Empty(t5.Calls);
        foreach (var (name, recorded, expected) in rows)
        {
            bool same = recorded.Count == expected.Length && expected.All(e => recorded.Any(r => r.SequenceEqual(e)));
            checks.Add(new Check(name, same ? 0 : double.NaN, 0));
        }
        // CLIP-G's pad "!" is an added token: "wow!" is wow + 0 there; CLIP-L spells it wow + "!</w>" (256).
        long wow = model.Components.Tokenizer.TokenToId("wow</w>")!.Value;
        Assert.Contains((wow, 0L), ids.ClipG[0].Zip(ids.ClipG[0].Skip(1)));
        Assert.Contains((wow, 256L), ids.ClipL[0].Zip(ids.ClipL[0].Skip(1)));
        if (Texts[prompt] == TypedSpecialTokens) Assert.Equal(3, System.Array.IndexOf(ids.ClipL[0], 49407L)); // BOS, "a", "cat", then the typed token

        // 2. Encoders, float64.
        var options = new RepositoryWriter.Options { Precision = DType.Float32 };
        RefWeights W(Submodule s) => new(RepositoryWriter.Build(s, set, weights, options).Model);
        var (wL, wG, wT5, wMmdit) = (W(Submodule.TextEncoder), W(Submodule.TextEncoder2), useT5 ? W(Submodule.TextEncoder3) : null, W(Submodule.Transformer));
        (double[] Hidden, double[] Pooled) Clip(RefWeights w, Models.Configs.ClipTextConfig c, long[] row)
        {
            var r = RefClip.Forward(w, c, row);
            return (r.HiddenStates[^2], r.TextEmbeds);
        }
        var sides = new[] { (Name: "positive", Index: 0), (Name: "negative", Index: 1) };
        var embeds = new Dictionary<int, (double[] Context, double[] Pooled)>();
        int textRows = 77 + MaxSequenceLength, joint = set.Transformer.JointAttentionDim;
        foreach (var (side, i) in sides)
        {
            var l = Clip(wL, set.TextEncoder, ids.ClipL[i]);
            var g = Clip(wG, set.TextEncoder2, ids.ClipG[i]);
            var recordedL = clipL.Calls.Single(c => c.Ids.SequenceEqual(ids.ClipL[i])).Output;
            var recordedG = clipG.Calls.Single(c => c.Ids.SequenceEqual(ids.ClipG[i])).Output;
            Compare($"CLIP-L hidden_states[-2], {side}", recordedL.HiddenState.ToFloatArray(), l.Hidden, 1e-5);
            Compare($"CLIP-L text_embeds, {side}", recordedL.Pooled.ToFloatArray(), l.Pooled, 1e-5);
            Compare($"CLIP-G hidden_states[-2], {side}", recordedG.HiddenState.ToFloatArray(), g.Hidden, 1e-5);
            Compare($"CLIP-G text_embeds, {side}", recordedG.Pooled.ToFloatArray(), g.Pooled, 1e-5);
            double[] t5Rows = new double[MaxSequenceLength * joint]; // diffusers' zeros without text_encoder_3
            if (useT5)
            {
                t5Rows = RefT5.Forward(wT5!, set.TextEncoder3, ids.T5[i]);
                Compare($"T5 last_hidden_state, {side}", t5.Calls.Single(c => c.Ids.SequenceEqual(ids.T5[i])).Output.ToFloatArray(), t5Rows, 1e-5);
            }
            embeds[i] = Assemble(l, g, t5Rows, joint, set.TextEncoder.HiddenSize, set.TextEncoder2.HiddenSize);
        }

        // 3. The embeddings the transformer gets: [negative; positive] (diffusers' batch order), 77 + max_sequence_length rows.
        var first = transformer.Calls[0];
        Assert.Equal(2, first.Batch);
        Compare("prompt_embeds [2, 77 + 256, joint]", first.Context, [.. embeds[1].Context, .. embeds[0].Context], 1e-5);
        Compare("pooled_prompt_embeds", first.Pooled, [.. embeds[1].Pooled, .. embeds[0].Pooled], 1e-5);

        // 4. Every step's latents: flow-matching Euler with classifier-free guidance, float64, from the same noise.
        var (sigmas, timesteps) = Schedule(Steps, set.Scheduler.Shift, set.Scheduler.NumTrainTimesteps);
        int per = first.Latents.Length / 2, latent = Size / 8;
        var x = first.Latents.AsSpan(0, per).ToArray().Select(v => (double)v).ToArray();
        Assert.Equal(Steps, transformer.Calls.Count);
        for (int k = 0; k < Steps; k++)
        {
            Compare($"step {k} latents in", transformer.Calls[k].Latents.AsSpan(0, per), x, 1e-5);
            checks.Add(new Check($"step {k} timestep", Math.Abs(transformer.Calls[k].Timestep[0] - timesteps[k]) / timesteps[k], 1e-6));
            var u = RefMmdit.Forward(wMmdit, set.Transformer, x, latent, latent, embeds[1].Context, textRows, embeds[1].Pooled, timesteps[k]);
            var c = RefMmdit.Forward(wMmdit, set.Transformer, x, latent, latent, embeds[0].Context, textRows, embeds[0].Pooled, timesteps[k]);
            for (int e = 0; e < x.Length; e++) x[e] += (sigmas[k + 1] - sigmas[k]) * (u[e] + Guidance * (c[e] - u[e]));
        }
        Compare("final latents", result.Latents.ToFloatArray(), x, 1e-5);

        output.WriteLine(string.Join("\n", checks));
        var firstPart = checks.FirstOrDefault(c => !c.Ok);
        Assert.True(firstPart is null, $"first stage where they part: {firstPart?.Stage}\n{string.Join("\n", checks)}");
    }

    /// <summary>diffusers' encode_prompt: CLIP-L ⊕ CLIP-G padded to the joint width, then the T5 rows; pooled L ⊕ G.</summary>
    private static (double[] Context, double[] Pooled) Assemble((double[] Hidden, double[] Pooled) l, (double[] Hidden, double[] Pooled) g,
        double[] t5, int joint, int widthL, int widthG)
    {
        var context = new double[(77 + t5.Length / joint) * joint];
        for (int r = 0; r < 77; r++)
        {
            System.Array.Copy(l.Hidden, r * widthL, context, r * joint, widthL);
            System.Array.Copy(g.Hidden, r * widthG, context, r * joint + widthL, widthG);
        }
        System.Array.Copy(t5, 0, context, 77 * joint, t5.Length);
        return (context, [.. l.Pooled, .. g.Pooled]);
    }

    /// <summary>
    /// FlowMatchEulerDiscreteScheduler.set_timesteps (diffusers 58eb52c, static shift): timesteps evenly from
    /// sigma_max * N to sigma_min * N, sigmas = shift s / (1 + (shift - 1) s), then a final 0; timesteps are float32 sigmas * N.
    /// </summary>
    private static (double[] Sigmas, double[] Timesteps) Schedule(int steps, double shift, int n)
    {
        double Shifted(double s) => shift * s / (1 + (shift - 1) * s);
        double sigmaMax = (float)Shifted((float)n / n), sigmaMin = (float)Shifted((float)1 / n);
        var sigmas = new double[steps + 1];
        var timesteps = new double[steps];
        for (int i = 0; i < steps; i++)
        {
            double t = sigmaMax * n + (sigmaMin * n - sigmaMax * n) * i / (steps - 1);
            sigmas[i] = (float)Shifted(t / n);
            timesteps[i] = (float)((float)sigmas[i] * n);
        }
        return (sigmas, timesteps);
    }

    /// <summary>The rows Hugging Face's tokenizers gives for each of <see cref="Texts"/>.</summary>
    private static (long[][] ClipL, long[][] ClipG, long[][] T5) ReferenceIds(string dir)
    {
        var clip = ClipBpe();
        JsonArray ClipSpecials(bool bang) => bang
            ? Array(Added(0, "!", true, false), Added(49406, "<|startoftext|>", true, false), Added(49407, "<|endoftext|>", true, false))
            : Array(Added(49406, "<|startoftext|>", true, false), Added(49407, "<|endoftext|>", true, false));
        var t5Added = T5Specials();
        for (int i = 99; i >= 0; i--) t5Added.Add(Added(32099 - i, $"<extra_id_{i}>", true, false));
        var files = new[]
        {
            Write(dir, "clip_l", Tokenizer(clip.DeepClone(), ClipNormalizer(), ClipPreTokenizer(), Roberta(), ClipSpecials(false), Truncation(77), Padding(77, 49407, "<|endoftext|>"))),
            Write(dir, "clip_g", Tokenizer(clip, ClipNormalizer(), ClipPreTokenizer(), Roberta(), ClipSpecials(true), Truncation(77), Padding(77, 0, "!"))),
            Write(dir, "t5", Tokenizer(T5Unigram(), null, Type("Sequence", ("pretokenizers", Array(Type("WhitespaceSplit"),
                Type("Metaspace", ("replacement", "\u2581"), ("prepend_scheme", "always"), ("split", true))))), T5Template(), t5Added,
                Truncation(MaxSequenceLength), Padding(MaxSequenceLength, 0, "<pad>"))),
        };
        var request = new JsonObject
        {
            ["encode"] = new JsonArray(files.Select(f => (JsonNode)new JsonObject { ["file"] = f, ["texts"] = new JsonArray(Texts.Select(t => (JsonNode)t).ToArray()), ["special"] = true }).ToArray()),
        };
        var response = HfTokenizersPeer.Run(request)["encode"]!.AsArray();
        long[][] Rows(int i) => response[i]!.AsArray().Select(r => HfTokenizersPeer.Ids(r!).Select(x => (long)x).ToArray()).ToArray();
        return (Rows(0), Rows(1), Rows(2));
    }
}
