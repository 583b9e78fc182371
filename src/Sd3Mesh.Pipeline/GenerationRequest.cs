using System.Globalization;
using Sd3Mesh.Pipeline.Guidance;
using Sd3Mesh.Pipeline.Imaging;
using Sd3Mesh.Pipeline.IO;
using Sd3Mesh.Pipeline.Sampling;
using Sd3Mesh.Pipeline.Vae;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline;

/// <summary>What the job returns: decoded images or the final latents.</summary>
public enum OutputType
{
    Image,
    Latent,
}

/// <summary>
/// Every option of an SD3 job, with diffusers' defaults (28 steps, guidance 7.0, 1024x1024,
/// max_sequence_length 256, strength 0.6). <see cref="Validate"/> reports every invalid value at once,
/// naming the field in snake_case and the allowed range; a job is rejected before any work when it
/// finds anything.
/// </summary>
public sealed record GenerationRequest
{
    public const int MinSize = 16, MaxSize = 4096, MaxSteps = 1000, MaxCount = 16, MaxPromptLength = 10_000;
    public const double MaxGuidanceScale = 100;
    public const int DefaultSize = 1024, DefaultSteps = 28;
    public const double DefaultGuidanceScale = 7.0, DefaultStrength = 0.6;
    /// <summary>T5 tokens: diffusers' default max_sequence_length, and the most T5's positions serve.</summary>
    public const int DefaultMaxSequenceLength = 256, MaxSequenceLengthLimit = 512;

    public required string Prompt { get; init; }
    public string? Prompt2 { get; init; }
    public string? Prompt3 { get; init; }
    public string NegativePrompt { get; init; } = "";
    public string? NegativePrompt2 { get; init; }
    public string? NegativePrompt3 { get; init; }
    public int Width { get; init; } = DefaultSize;
    public int Height { get; init; } = DefaultSize;
    public int Steps { get; init; } = DefaultSteps;
    public double GuidanceScale { get; init; } = DefaultGuidanceScale;
    /// <summary>None: random; one: image i uses seed + i; else one per image.</summary>
    public IReadOnlyList<ulong> Seeds { get; init; } = [];
    /// <summary>num_images_per_prompt.</summary>
    public int Count { get; init; } = 1;
    public int MaxSequenceLength { get; init; } = DefaultMaxSequenceLength;
    public bool UseT5 { get; init; } = true;
    /// <summary>Image-to-image input (its size must equal width x height).</summary>
    public RgbImage? InitImage { get; init; }
    public double Strength { get; init; } = DefaultStrength;
    /// <summary>Initial latents [count, C, height/8, width/8] (text-to-image only).</summary>
    public Tensor? Latents { get; init; }
    public OutputType OutputType { get; init; } = OutputType.Image;
    public int? ClipSkip { get; init; }
    public CfgMode CfgMode { get; init; } = CfgMode.Batched;
    /// <summary>Custom sigmas (diffusers' sigmas=...): replace the schedule; their count is the step count.</summary>
    public IReadOnlyList<float>? Sigmas { get; init; }
    public PosteriorSampling PosteriorSampling { get; init; } = PosteriorSampling.Sample;
    /// <summary>Continue an earlier run of this very request from its checkpoint (instead of its first step and latents).</summary>
    public DenoisingCheckpoint? Resume { get; init; }

    public bool IsImageToImage => InitImage is not null;

    /// <summary>Steps the scheduler is set up with (the custom sigmas' count when given).</summary>
    public int ScheduleSteps => Sigmas is { Count: > 0 } s ? s.Count : Steps;

    /// <summary>Denoising steps actually run: image-to-image keeps the last strength x steps of the schedule.</summary>
    public int DenoisingSteps => IsImageToImage ? ScheduleSteps - FlowMatchSchedule.StartIndex(ScheduleSteps, Strength) : ScheduleSteps;

    /// <summary>
    /// Every invalid value, empty when the request can run. <paramref name="model"/> supplies model limits
    /// (latent channels, size multiple, largest size, clip_skip range); SD3 Medium's are assumed without it.
    /// </summary>
    public IReadOnlyList<ValidationError> Validate(Sd3ModelConfig? model = null)
    {
        model ??= Sd3ModelConfig.Sd3Medium;
        var c = CultureInfo.InvariantCulture;
        var errors = new List<ValidationError>();
        void Add(string field, string message) => errors.Add(new ValidationError(field, message));

        CheckText("prompt", Prompt);
        CheckText("prompt_2", Prompt2);
        CheckText("prompt_3", Prompt3);
        CheckText("negative_prompt", NegativePrompt);
        CheckText("negative_prompt_2", NegativePrompt2);
        CheckText("negative_prompt_3", NegativePrompt3);

        int multiple = model.SizeMultiple;
        int maxSize = Math.Min(MaxSize, model.MaxImageSize ?? MaxSize);
        CheckSize("width", Width);
        CheckSize("height", Height);

        if (Sigmas is null && (Steps < 1 || Steps > MaxSteps))
            Add("steps", $"{Steps} is outside the allowed range 1..{MaxSteps}");
        if (Sigmas is not null)
        {
            if (Sigmas.Count is < 1 or > MaxSteps) Add("sigmas", $"{Sigmas.Count} sigmas given; 1..{MaxSteps} are allowed");
            else if (Sigmas.Any(s => !float.IsFinite(s) || s < 0 || s > 1)) Add("sigmas", "every sigma must be a number in [0, 1]");
        }
        if (!double.IsFinite(GuidanceScale) || GuidanceScale < 0 || GuidanceScale > MaxGuidanceScale)
            Add("guidance_scale", $"{GuidanceScale.ToString(c)} is outside the allowed range 0..{MaxGuidanceScale.ToString(c)} (values <= 1 disable guidance)");
        if (Count < 1 || Count > MaxCount) Add("count", $"{Count} is outside the allowed range 1..{MaxCount}");
        else if (Seeds.Count > 1 && Seeds.Count != Count)
            Add("seeds", $"{Seeds.Count} seeds were given for count {Count}: give one seed (image i uses seed + i) or exactly {Count}");
        if (MaxSequenceLength < 1 || MaxSequenceLength > MaxSequenceLengthLimit)
            Add("max_sequence_length", $"{MaxSequenceLength} is outside the allowed range 1..{MaxSequenceLengthLimit}");
        if (ClipSkip is { } skip)
        {
            int max = model.MaxClipSkip ?? 10;
            if (skip < 0 || skip > max) Add("clip_skip", $"{skip} is outside the allowed range 0..{max} for this model's CLIP encoders");
        }

        if (InitImage is { } image)
        {
            // Any strength in (0, 1] runs at least one step: t_start = int(N - N*strength) < N.
            if (!(Strength > 0 && Strength <= 1)) Add("strength", $"{Strength.ToString(c)} is outside the allowed range (0, 1]");
            if (image.Width != Width || image.Height != Height)
                Add("init_image", $"the image is {image.Width}x{image.Height} but width x height is {Width}x{Height}; resize the image or request its size");
            if (Latents is not null) Add("latents", "latents and init_image cannot be combined: image-to-image makes its latents from the image");
        }

        bool sized = errors.All(e => e.Field is not ("width" or "height" or "count"));
        if (Latents is { } latents && sized) CheckLatents("latents", latents);
        if (Resume is { } resume && sized && errors.All(e => e.Field is not ("steps" or "sigmas" or "strength")))
        {
            if (resume.Step < 0 || resume.Step > DenoisingSteps)
                Add("resume", $"step {resume.Step} is outside the job's denoising steps 0..{DenoisingSteps}");
            CheckLatents("resume", resume.Latents);
        }
        return errors;

        void CheckLatents(string field, Tensor latents)
        {
            var expected = new TensorShape(Count, model.LatentChannels, Height / model.VaeScaleFactor, Width / model.VaeScaleFactor);
            if (latents.Shape != expected)
                Add(field, $"shape {latents.Shape} does not match [count, channels, height/{model.VaeScaleFactor}, width/{model.VaeScaleFactor}] = {expected}");
            else if (!latents.DType.IsFloatingPoint())
                Add(field, $"dtype {latents.DType.Name()} is not a floating-point type");
            else if (!TensorOps.AllFinite(latents.AsDType(DType.Float32).AsSpan<float>()))
                Add(field, "contains NaN or infinite values");
        }

        void CheckText(string field, string? text)
        {
            if (text is { Length: > MaxPromptLength }) Add(field, $"is {text.Length} characters long; at most {MaxPromptLength} are allowed");
        }

        void CheckSize(string field, int value)
        {
            if (value < MinSize || value > maxSize)
                Add(field, $"{value} is outside the allowed range {MinSize}..{maxSize} (a multiple of {multiple})" +
                           (value > maxSize && maxSize < MaxSize ? $"; this model's pos_embed_max_size {model.PosEmbedMaxSize} x {multiple} allows no more" : ""));
            else if (value % multiple != 0)
            {
                int down = value / multiple * multiple, up = down + multiple;
                Add(field, $"{value} is not a multiple of {multiple} (vae_scale_factor x patch_size); use {Math.Max(down, multiple)} or {up}");
            }
        }
    }

    /// <summary>Reads a PNG for init_image; a failure becomes an init_image error.</summary>
    public static (RgbImage? Image, ValidationError? Error) LoadInitImage(string path)
    {
        try { return (PngDecoder.Read(path).Image, null); }
        catch (InvalidDataException e) { return (null, new ValidationError("init_image", e.Message)); }
    }

    /// <summary>Reads a .npy for latents; a failure becomes a latents error.</summary>
    public static (Tensor? Latents, ValidationError? Error) LoadLatents(string path)
    {
        try { return (NpyFile.Read(path), null); }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or FormatException or OverflowException)
        {
            return (null, new ValidationError("latents", $"cannot read '{path}': {e.Message}"));
        }
    }
}
