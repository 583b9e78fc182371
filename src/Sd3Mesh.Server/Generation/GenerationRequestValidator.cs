using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Jobs;

namespace Sd3Mesh.Server.Generation;

/// <summary>The limits documented in generation.proto, in one place.</summary>
public static class GenerationLimits
{
    public const int MaxPromptLength = 10_000;
    public const int MinSize = 16, MaxSize = 4096, SizeMultiple = 16, DefaultSize = 1024;
    public const int MinSteps = 1, MaxSteps = 1000, DefaultSteps = 28;
    public const float MaxGuidance = 100f, DefaultGuidance = 7.0f;
    public const int MaxCount = 16;
    public const int MaxSequenceLength = 512, DefaultSequenceLength = 256;
    public const int MaxInitImageBytes = 32 * 1024 * 1024;
    public const float DefaultStrength = 0.6f;
    public const int MaxClipSkip = 11;
}

/// <summary>A request with one or more invalid fields; the message names each field and its allowed range.</summary>
public sealed class InvalidGenerationRequestException(IReadOnlyList<string> violations)
    : ArgumentException("invalid GenerateRequest: " + string.Join("; ", violations))
{
    public IReadOnlyList<string> Violations { get; } = violations;
}

/// <summary>
/// Checks every field of a GenerateRequest against generation.proto's documented limits and applies
/// the defaults. All violations are reported at once (INVALID_ARGUMENT through the RPC layer).
/// </summary>
public static class GenerationRequestValidator
{
    private static ReadOnlySpan<byte> PngSignature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    public static GenerationSpec Validate(GenerateRequest request, Func<ulong>? randomSeed = null)
    {
        var errors = new List<string>();

        if (string.IsNullOrWhiteSpace(request.Prompt))
            errors.Add($"prompt is required (1 .. {GenerationLimits.MaxPromptLength} characters)");
        CheckLength(errors, "prompt", request.Prompt);
        CheckLength(errors, "prompt_2", request.Prompt2);
        CheckLength(errors, "prompt_3", request.Prompt3);
        CheckLength(errors, "negative_prompt", request.NegativePrompt);
        CheckLength(errors, "negative_prompt_2", request.NegativePrompt2);
        CheckLength(errors, "negative_prompt_3", request.NegativePrompt3);

        uint width = request.HasWidth ? request.Width : GenerationLimits.DefaultSize;
        uint height = request.HasHeight ? request.Height : GenerationLimits.DefaultSize;
        CheckSize(errors, "width", width);
        CheckSize(errors, "height", height);

        uint steps = request.HasSteps ? request.Steps : GenerationLimits.DefaultSteps;
        if (steps is < GenerationLimits.MinSteps or > GenerationLimits.MaxSteps)
            errors.Add($"steps must be in [{GenerationLimits.MinSteps}, {GenerationLimits.MaxSteps}], got {steps}");

        float guidance = request.HasGuidanceScale ? request.GuidanceScale : GenerationLimits.DefaultGuidance;
        if (!float.IsFinite(guidance) || guidance < 0 || guidance > GenerationLimits.MaxGuidance)
            errors.Add($"guidance_scale must be a finite number in [0, {GenerationLimits.MaxGuidance}], got {guidance}");

        if (request.Seeds.Count > 0 && request.HasSeed)
            errors.Add("set either seed or seeds, not both");
        uint count = request.HasCount ? request.Count : request.Seeds.Count > 0 ? (uint)request.Seeds.Count : 1;
        if (count is < 1 or > GenerationLimits.MaxCount)
            errors.Add($"count must be in [1, {GenerationLimits.MaxCount}], got {count}" + (request.HasCount ? "" : " (the number of seeds)"));
        else if (request.Seeds.Count > 0 && request.Seeds.Count != count)
            errors.Add($"seeds must hold one seed per image: count is {count}, got {request.Seeds.Count} seeds");

        uint maxSequence = request.HasMaxSequenceLength ? request.MaxSequenceLength : GenerationLimits.DefaultSequenceLength;
        if (maxSequence is < 1 or > GenerationLimits.MaxSequenceLength)
            errors.Add($"max_sequence_length must be in [1, {GenerationLimits.MaxSequenceLength}], got {maxSequence}");

        bool imageToImage = !request.InitImage.IsEmpty;
        if (imageToImage)
        {
            if (request.InitImage.Length > GenerationLimits.MaxInitImageBytes)
                errors.Add($"init_image must be at most {GenerationLimits.MaxInitImageBytes / (1024 * 1024)} MiB, got {request.InitImage.Length} bytes");
            else if (!request.InitImage.Span.StartsWith(PngSignature))
                errors.Add("init_image must be a PNG file (its bytes do not start with the PNG signature)");
        }
        float strength = request.HasStrength ? request.Strength : GenerationLimits.DefaultStrength;
        if (request.HasStrength && !imageToImage)
            errors.Add("strength needs init_image (image-to-image); leave it unset for text-to-image");
        else if (!float.IsFinite(strength) || strength <= 0 || strength > 1)
            errors.Add($"strength must be in (0, 1], got {strength}");

        if (!Enum.IsDefined(request.OutputType))
            errors.Add($"output_type must be OUTPUT_TYPE_IMAGE or OUTPUT_TYPE_LATENT, got {(int)request.OutputType}");
        if (request.PreviewInterval > steps && steps is >= GenerationLimits.MinSteps and <= GenerationLimits.MaxSteps)
            errors.Add($"preview_interval must be 0 (no previews) or in [1, steps={steps}], got {request.PreviewInterval}");
        if (request.ClipSkip > GenerationLimits.MaxClipSkip)
            errors.Add($"clip_skip must be in [0, {GenerationLimits.MaxClipSkip}], got {request.ClipSkip}");
        if (!Enum.IsDefined(request.CfgMode))
            errors.Add($"cfg_mode must be CFG_MODE_BATCHED or CFG_MODE_SPLIT, got {(int)request.CfgMode}");

        if (errors.Count > 0) throw new InvalidGenerationRequestException(errors);

        IReadOnlyList<ulong> seeds;
        if (request.Seeds.Count > 0) seeds = request.Seeds.ToArray();
        else
        {
            ulong baseSeed = request.HasSeed ? request.Seed : (randomSeed ?? RandomSeed)();
            seeds = Enumerable.Range(0, (int)count).Select(i => unchecked(baseSeed + (ulong)i)).ToArray();
        }
        string prompt = request.Prompt, negative = request.NegativePrompt;
        return new GenerationSpec
        {
            Prompt = prompt,
            Prompt2 = OrDefault(request.Prompt2, prompt),
            Prompt3 = OrDefault(request.Prompt3, prompt),
            NegativePrompt = negative,
            NegativePrompt2 = OrDefault(request.NegativePrompt2, negative),
            NegativePrompt3 = OrDefault(request.NegativePrompt3, negative),
            Width = (int)width,
            Height = (int)height,
            Steps = (int)steps,
            GuidanceScale = guidance,
            Seeds = seeds,
            MaxSequenceLength = (int)maxSequence,
            NoT5 = request.NoT5,
            InitImage = imageToImage ? request.InitImage.ToByteArray() : null,
            Strength = strength,
            Output = request.OutputType == OutputType.Latent ? GenerationOutput.Latent : GenerationOutput.Image,
            PreviewInterval = (int)request.PreviewInterval,
            ClipSkip = (int)request.ClipSkip,
            CfgMode = request.CfgMode == CfgMode.Split ? GuidanceBatching.Split : GuidanceBatching.Batched,
        };
    }

    private static ulong RandomSeed() => (ulong)Random.Shared.NextInt64(0, long.MaxValue);

    private static string OrDefault(string value, string fallback) => value.Length == 0 ? fallback : value;

    private static void CheckLength(List<string> errors, string field, string value)
    {
        if (value.Length > GenerationLimits.MaxPromptLength)
            errors.Add($"{field} must be at most {GenerationLimits.MaxPromptLength} characters, got {value.Length}");
    }

    private static void CheckSize(List<string> errors, string field, uint value)
    {
        if (value < GenerationLimits.MinSize || value > GenerationLimits.MaxSize || value % GenerationLimits.SizeMultiple != 0)
            errors.Add($"{field} must be a multiple of {GenerationLimits.SizeMultiple} in [{GenerationLimits.MinSize}, {GenerationLimits.MaxSize}], got {value}");
    }
}
