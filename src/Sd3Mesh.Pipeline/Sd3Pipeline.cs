using System.Diagnostics;
using Sd3Mesh.Pipeline.Guidance;
using Sd3Mesh.Pipeline.Imaging;
using Sd3Mesh.Pipeline.Latents;
using Sd3Mesh.Pipeline.Prompting;
using Sd3Mesh.Pipeline.Sampling;
using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Pipeline.Vae;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline;

/// <summary>
/// An SD3 text-to-image / image-to-image job in one process, reading top to bottom like diffusers'
/// StableDiffusion3Pipeline.__call__ (and StableDiffusion3Img2ImgPipeline's): check inputs, encode the
/// prompts, prepare timesteps, prepare latents, denoise with flow-matching Euler and classifier-free
/// guidance, decode, postprocess. Every model call goes through the stage interfaces in
/// <see cref="Sd3Components"/>, so the same code drives local sessions or remote grains.
/// </summary>
public sealed class Sd3Pipeline
{
    private readonly Sd3Components _c;
    private readonly Sd3PipelineOptions _options;

    public Sd3Pipeline(Sd3Components components, Sd3PipelineOptions? options = null)
    {
        _c = components;
        _options = options ?? new Sd3PipelineOptions();
        Cache = _options.CacheEntries > 0 ? new PromptEmbeddingCache(_options.CacheEntries, _options.CacheBytes) : null;
    }

    public Sd3Components Components => _c;

    /// <summary>The prompt-embedding cache shared by this pipeline's jobs (null when disabled).</summary>
    public PromptEmbeddingCache? Cache { get; }

    /// <param name="latentsAt">the step events (by step number, from 1) that carry the latents (previews, checkpoints);
    /// null: none. Only those steps read them: on a GPU each read is a copy off the card.</param>
    public async Task<GenerationResult> GenerateAsync(GenerationRequest request, Action<PipelineProgress>? progress = null,
        CancellationToken cancellationToken = default, Func<int, bool>? latentsAt = null)
    {
        long started = Stopwatch.GetTimestamp();
        var timings = new StageTimings();
        var warnings = new List<string>();
        var model = _c.Model;

        // 1. Check inputs: every invalid value is reported before any work.
        Stage(PipelineStage.CheckInputs, progress, timings, () =>
        {
            var errors = request.Validate(model).ToList();
            if (request.IsImageToImage && _c.VaeEncoder is null)
                errors.Add(new ValidationError("init_image", "this model has no VAE encoder (vae_encoder/), so image-to-image is not available"));
            if (errors.Count > 0) throw new GenerationRequestException(errors);
            if (request.UseT5 && !_c.HasT5)
                warnings.Add("T5 (text_encoder_3) is not available: its part of the prompt embeddings is zeros, as diffusers does without it");
            return 0;
        });
        bool guidance = ClassifierFreeGuidance.IsEnabled(request.GuidanceScale);
        int count = request.Count;
        var seeds = SeedPlan.Resolve(request.Seeds, count);
        var texts = new PromptTexts(request.Prompt, request.Prompt2, request.Prompt3);

        // 2. Encode the prompts (negative only with guidance; diffusers' clip_skip applies to the positive side only).
        var (positive, negative) = await StageAsync(PipelineStage.EncodePrompt, progress, timings, async () =>
        {
            var encoder = new PromptEncoder(_c, Cache, timings);
            bool useT5 = request.UseT5;
            var pos = encoder.EncodeAsync(texts, request.ClipSkip,
                request.MaxSequenceLength, useT5, count, cancellationToken);
            var neg = guidance
                ? encoder.EncodeAsync(new PromptTexts(request.NegativePrompt, request.NegativePrompt2, request.NegativePrompt3), null,
                    request.MaxSequenceLength, useT5, count, cancellationToken)
                : null;
            var p = await pos.ConfigureAwait(false);
            var n = neg is null ? null : await neg.ConfigureAwait(false);
            warnings.AddRange(p.Warnings);
            if (n is not null) warnings.AddRange(n.Warnings.Select(w => "negative prompt: " + w));
            return (p.Embeddings, n?.Embeddings);
        }).ConfigureAwait(false);

        // 3. Prepare timesteps (image-to-image keeps the last strength x steps of them).
        var schedule = Stage(PipelineStage.PrepareTimesteps, progress, timings, () =>
        {
            var scheduler = new FlowMatchEulerScheduler(_c.Scheduler);
            double? mu = null;
            if (_c.Scheduler.UseDynamicShifting)
                mu = scheduler.CalculateMu(request.Height / model.VaeScaleFactor / model.PatchSize * (request.Width / model.VaeScaleFactor / model.PatchSize));
            var full = request.Sigmas is { Count: > 0 } sigmas ? scheduler.SetTimesteps(sigmas, mu) : scheduler.SetTimesteps(request.Steps, mu);
            return request.IsImageToImage ? full.ForStrength(request.Strength) : full;
        });

        // 4. Prepare latents [count, C, H/8, W/8] (a resumed job's are its checkpoint's).
        int latentH = request.Height / model.VaeScaleFactor, latentW = request.Width / model.VaeScaleFactor;
        var latents = await StageAsync(PipelineStage.PrepareLatents, progress, timings, async () =>
        {
            if (request.Resume is { } resume) return resume.Latents;
            if (request.Latents is { } given) return given;
            if (!request.IsImageToImage)
                return LatentNoise.Create(seeds, model.LatentChannels, latentH, latentW);
            var start = await ImageToLatentsAsync(request, seeds, schedule, timings, cancellationToken).ConfigureAwait(false);
            return Tensor.FromArray(start, count, model.LatentChannels, latentH, latentW);
        }).ConfigureAwait(false);

        // 5. Denoising loop. The transformer is bound once to this job's latents and prompt embeddings; each step
        // predicts the velocity (both guidance passes, negative rows first) and takes the Euler step. A resumed job
        // starts after the steps its checkpoint had run.
        var finalLatents = await StageAsync(PipelineStage.Denoise, progress, timings, async () =>
        {
            int done = request.Resume?.Step ?? 0;
            var setup = new DenoisingSetup(latents, positive, guidance ? negative : null, request.GuidanceScale, request.CfgMode,
                schedule.After(done), timings);
            await using var job = await _c.Transformer.BeginAsync(setup, cancellationToken).ConfigureAwait(false);
            for (int k = done; k < schedule.StepCount; k++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                long stepStart = Stopwatch.GetTimestamp();
                await job.StepAsync(schedule.BeginIndex + k, cancellationToken).ConfigureAwait(false);
                var elapsed = Stopwatch.GetElapsedTime(stepStart);
                var stepLatents = latentsAt?.Invoke(k + 1) == true
                    ? await job.ReadLatentsAsync(cancellationToken).ConfigureAwait(false)
                    : null;
                progress?.Invoke(new PipelineProgress(PipelineStage.Denoise, ProgressKind.Step, k + 1, schedule.StepCount, elapsed) { Latents = stepLatents });
            }
            return await job.ReadLatentsAsync(cancellationToken).ConfigureAwait(false);
        }).ConfigureAwait(false);

        // 6-7. Decode and postprocess (one image at a time: bounded memory, as diffusers' VAE slicing).
        var images = new List<GeneratedImage>(count);
        if (request.OutputType == OutputType.Image)
        {
            var decoded = await StageAsync(PipelineStage.Decode, progress, timings, async () =>
            {
                var scaling = new VaeLatentScaling(model.ScalingFactor, model.ShiftFactor);
                var tiled = new TiledVaeDecoder(_c.VaeDecoder, _options.TileLatentSize ?? model.VaeTileLatentSize,
                    scaleFactor: model.VaeScaleFactor);
                var samples = new List<Tensor>(count);
                for (int i = 0; i < count; i++)
                {
                    var z = scaling.ToVae(finalLatents.Slice0(i, 1));
                    samples.Add(await timings.MeasureAsync(StageNames.VaeDecoder, () =>
                        _options.VaeTiling == VaeTiling.Off ? _c.VaeDecoder.DecodeAsync(z, cancellationToken) : tiled.DecodeAsync(z, cancellationToken))
                        .ConfigureAwait(false));
                }
                return samples;
            }).ConfigureAwait(false);

            Stage(PipelineStage.Postprocess, progress, timings, () =>
            {
                for (int i = 0; i < count; i++)
                    images.Add(new GeneratedImage(i, seeds[i], ImageTensors.ToImages(decoded[i])[0], Metadata(request, texts, seeds[i], schedule)));
                return 0;
            });
        }
        else
        {
            for (int i = 0; i < count; i++) images.Add(new GeneratedImage(i, seeds[i], null, Metadata(request, texts, seeds[i], schedule)));
        }

        return new GenerationResult(images, finalLatents, timings, Stopwatch.GetElapsedTime(started), warnings);
    }

    /// <summary>
    /// Image-to-image latents (StableDiffusion3Img2ImgPipeline.prepare_latents): encode the image once,
    /// take each image's posterior sample (its seed, stream 1), normalize ((z - shift) * scale), then
    /// scale_noise at the start sigma with the image's noise (its seed, stream 0).
    /// </summary>
    private async Task<float[]> ImageToLatentsAsync(GenerationRequest request, ulong[] seeds, FlowMatchSchedule schedule, StageTimings timings,
        CancellationToken ct)
    {
        var model = _c.Model;
        var pixels = ImageTensors.FromImage(request.InitImage!);
        var parameters = await timings.MeasureAsync(StageNames.VaeEncoder, () => _c.VaeEncoder!.EncodeAsync(pixels, ct)).ConfigureAwait(false);
        var expected = new TensorShape(1, 2 * model.LatentChannels, request.Height / model.VaeScaleFactor, request.Width / model.VaeScaleFactor);
        if (parameters.Shape != expected)
            throw new InvalidDataException($"the VAE encoder returned {parameters.Shape}, expected {expected} (mean and logvar)");

        int perImage = checked((int)(expected.ElementCount / 2));
        var scaling = new VaeLatentScaling(model.ScalingFactor, model.ShiftFactor);
        var result = new float[seeds.Length * perImage];
        var posteriorNoise = new float[perImage];
        var noise = new float[perImage];
        var scaled = new float[perImage];
        for (int i = 0; i < seeds.Length; i++)
        {
            SeededRandom.FillNormal(posteriorNoise, seeds[i], SeedPlan.PosteriorStream);
            var z = VaePosterior.Latents(parameters, 0, request.PosteriorSampling, posteriorNoise);
            scaling.FromVae(z, scaled);
            SeededRandom.FillNormal(noise, seeds[i], SeedPlan.NoiseStream);
            schedule.ScaleNoise(scaled, noise, result.AsSpan(i * perImage, perImage));
        }
        return result;
    }

    private GenerationMetadata Metadata(GenerationRequest r, PromptTexts texts, ulong seed, FlowMatchSchedule schedule) => new()
    {
        Prompt = texts.ForClipL,
        Prompt2 = texts.ForClipG,
        Prompt3 = texts.ForT5,
        NegativePrompt = r.NegativePrompt,
        NegativePrompt2 = r.NegativePrompt2,
        NegativePrompt3 = r.NegativePrompt3,
        Seed = seed,
        Steps = schedule.Timesteps.Count,
        GuidanceScale = r.GuidanceScale,
        Width = r.Width,
        Height = r.Height,
        Model = _c.ModelName,
        Strength = r.IsImageToImage ? r.Strength : null,
        Shift = _c.Scheduler.Shift,
    };

    private static T Stage<T>(PipelineStage stage, Action<PipelineProgress>? progress, StageTimings timings, Func<T> body)
    {
        progress?.Invoke(new PipelineProgress(stage, ProgressKind.StageStarted));
        long start = Stopwatch.GetTimestamp();
        var result = body();
        var elapsed = Stopwatch.GetElapsedTime(start);
        timings.Add("stage:" + stage, elapsed);
        progress?.Invoke(new PipelineProgress(stage, ProgressKind.StageCompleted, Elapsed: elapsed));
        return result;
    }

    private static async Task<T> StageAsync<T>(PipelineStage stage, Action<PipelineProgress>? progress, StageTimings timings, Func<Task<T>> body)
    {
        progress?.Invoke(new PipelineProgress(stage, ProgressKind.StageStarted));
        long start = Stopwatch.GetTimestamp();
        var result = await body().ConfigureAwait(false);
        var elapsed = Stopwatch.GetElapsedTime(start);
        timings.Add("stage:" + stage, elapsed);
        progress?.Invoke(new PipelineProgress(stage, ProgressKind.StageCompleted, Elapsed: elapsed));
        return result;
    }
}
