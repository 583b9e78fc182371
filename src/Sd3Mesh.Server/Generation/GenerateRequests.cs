using System.Globalization;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Imaging;
using Sd3Mesh.Pipeline.Latents;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Jobs;
using Sd3Mesh.Tensors;
using PipelineRequest = Sd3Mesh.Pipeline.GenerationRequest;

namespace Sd3Mesh.Server.Generation;

/// <summary>A request with one or more invalid fields; the message names each field and its allowed range.</summary>
public sealed class InvalidGenerationRequestException(IReadOnlyList<ValidationError> errors)
    : ArgumentException("invalid GenerateRequest: " + string.Join("; ", errors))
{
    public IReadOnlyList<ValidationError> Errors { get; } = errors;
}

/// <summary>
/// The one path from a GenerateRequest (generation.proto) to a job: map it to the pipeline's request with
/// the API's defaults (which are the pipeline's), validate it once against the model that will run it, and
/// draw its seed plan (one seed per image). `sd3mesh generate` builds the same proto request from its
/// options and comes through here too, locally and through a server, so both run the same job.
/// </summary>
public static class GenerateRequests
{
    public const int MaxInitImageBytes = 32 * 1024 * 1024;
    public const int MaxRequestIdLength = 128;

    /// <summary>
    /// The validated job for <paramref name="request"/>; throws <see cref="InvalidGenerationRequestException"/>
    /// with every error, in the order of the request's fields. The numeric limits are the pipeline's
    /// (<see cref="PipelineRequest.Validate"/> with the model's config); checked here besides is what belongs to
    /// the wire format: a required prompt, seed vs seeds, enum values, strength without an init image, the
    /// init image's byte limit and PNG decoding, preview_interval.
    /// </summary>
    /// <param name="model">the config of the model that runs the job (limits such as clip_skip); null: SD3 Medium's</param>
    /// <param name="latents">initial latents, which only a local run can give (the API takes none)</param>
    /// <param name="randomSeed">draws the base seed when the request has none</param>
    public static GenerationSpec ToSpec(GenerateRequest request, Sd3ModelConfig? model = null, Tensor? latents = null,
        Func<ulong>? randomSeed = null)
    {
        model ??= Sd3ModelConfig.Sd3Medium;
        var errors = new List<ValidationError>();
        void Add(string field, string message) => errors.Add(new ValidationError(field, message));

        if (string.IsNullOrWhiteSpace(request.Prompt))
            Add("prompt", $"is empty; a prompt of 1..{PipelineRequest.MaxPromptLength} characters is required");
        if (request.HasSeed && request.Seeds.Count > 0)
            Add("seeds", "set either seed (image i uses seed + i) or seeds (one per image), not both");
        if (!Enum.IsDefined(request.OutputType))
            Add("output_type", $"{(int)request.OutputType} is not OUTPUT_TYPE_IMAGE or OUTPUT_TYPE_LATENT");
        if (!Enum.IsDefined(request.CfgMode))
            Add("cfg_mode", $"{(int)request.CfgMode} is not CFG_MODE_BATCHED or CFG_MODE_SPLIT");
        if (request.RequestId.Length > MaxRequestIdLength)
            Add("request_id", $"is {request.RequestId.Length} characters long; at most {MaxRequestIdLength} are allowed");
        else if (request.RequestId.AsSpan().IndexOfAnyExceptInRange('!', '~') is var at and >= 0)
            Add("request_id", $"has a character outside printable ASCII (! to ~) at position {at}");
        if (request.HasStrength && request.InitImage.IsEmpty)
            Add("strength", "applies to image-to-image only: give an init image or leave it unset");
        RgbImage? initImage = null;
        if (request.InitImage.Length > MaxInitImageBytes)
            Add("init_image", $"is {request.InitImage.Length} bytes; at most {MaxInitImageBytes} (32 MiB) are allowed");
        else if (!request.InitImage.IsEmpty)
        {
            try { initImage = PngDecoder.Decode(request.InitImage.Span).Image; }
            catch (InvalidDataException e) { Add("init_image", e.Message); }
        }

        var mapped = Map(request, initImage, model) with { Latents = latents };
        if (request.PreviewInterval > mapped.Steps && mapped.Steps is >= 1 and <= PipelineRequest.MaxSteps)
            Add("preview_interval", $"{request.PreviewInterval} is outside the allowed range 0..{mapped.Steps} (0: no previews, else at most steps)");
        errors.AddRange(mapped.Validate(model).Select(e => Unclamped(request, e)));

        if (errors.Count > 0)
            throw new InvalidGenerationRequestException(errors.OrderBy(e => FieldNumber(e.Field)).ToList());

        // One seed per image from here on (a random base seed when none was given), as the pipeline would draw them.
        var seeds = SeedPlan.Resolve(mapped.Seeds.Count > 0 ? mapped.Seeds : [(randomSeed ?? SeedPlan.RandomSeed)()], mapped.Count);
        return new GenerationSpec(mapped with { Seeds = seeds }, (int)request.PreviewInterval);
    }

    /// <summary>
    /// The pipeline request for a GenerateRequest, with generation.proto's defaults (the pipeline's own):
    /// empty prompt_2/3 and negative_prompt_2/3 fall back to prompt / negative_prompt, width and height to
    /// the init image's size, else the model's native size (1024 for SD3 Medium), count to the number of
    /// seeds (else 1), clip_skip 0 to none.
    /// </summary>
    private static PipelineRequest Map(GenerateRequest request, RgbImage? initImage, Sd3ModelConfig model)
    {
        var seeds = request.Seeds.Count > 0 ? request.Seeds.ToArray() : request.HasSeed ? [request.Seed] : [];
        var defaults = new PipelineRequest { Prompt = "" };
        return new PipelineRequest
        {
            Prompt = request.Prompt,
            Prompt2 = OrNull(request.Prompt2),
            Prompt3 = OrNull(request.Prompt3),
            NegativePrompt = request.NegativePrompt,
            NegativePrompt2 = OrNull(request.NegativePrompt2),
            NegativePrompt3 = OrNull(request.NegativePrompt3),
            Width = request.HasWidth ? Int(request.Width) : initImage?.Width ?? model.DefaultImageSize,
            Height = request.HasHeight ? Int(request.Height) : initImage?.Height ?? model.DefaultImageSize,
            Steps = request.HasSteps ? Int(request.Steps) : defaults.Steps,
            GuidanceScale = request.HasGuidanceScale ? AsTyped(request.GuidanceScale) : defaults.GuidanceScale,
            Seeds = seeds,
            Count = request.HasCount ? Int(request.Count) : Math.Max(1, seeds.Length),
            MaxSequenceLength = request.HasMaxSequenceLength ? Int(request.MaxSequenceLength) : defaults.MaxSequenceLength,
            UseT5 = !request.NoT5,
            InitImage = initImage,
            Strength = request.HasStrength ? AsTyped(request.Strength) : defaults.Strength,
            OutputType = request.OutputType == Protos.V1.OutputType.Latent ? Pipeline.OutputType.Latent : Pipeline.OutputType.Image,
            ClipSkip = request.ClipSkip == 0 ? null : Int(request.ClipSkip),
            CfgMode = request.CfgMode == Protos.V1.CfgMode.Split ? Pipeline.Guidance.CfgMode.Split : Pipeline.Guidance.CfgMode.Batched,
        };
    }

    private static string? OrNull(string value) => value.Length == 0 ? null : value;

    /// <summary>
    /// The double a user typed for a float field: 0.6f is 0.60000002384..., whose strength would run 7 of 10
    /// steps where 0.6 runs 6, and whose guidance would differ from the typed value in the last bits.
    /// </summary>
    private static double AsTyped(float value) =>
        double.Parse(value.ToString(CultureInfo.InvariantCulture), NumberStyles.Float, CultureInfo.InvariantCulture);

    // Values beyond int range are out of every limit anyway; clamping keeps them out of range instead of wrapping.
    private static int Int(uint value) => (int)Math.Min(value, int.MaxValue);

    /// <summary>A pipeline error about a value that <see cref="Int"/> clamped, with the value as sent.</summary>
    private static ValidationError Unclamped(GenerateRequest request, ValidationError error)
    {
        var field = GenerateRequest.Descriptor.FindFieldByName(error.Field);
        string clamped = int.MaxValue.ToString(CultureInfo.InvariantCulture) + " ";
        return field?.Accessor.GetValue(request) is uint sent && sent > int.MaxValue && error.Message.StartsWith(clamped, StringComparison.Ordinal)
            ? error with { Message = sent.ToString(CultureInfo.InvariantCulture) + " " + error.Message[clamped.Length..] }
            : error;
    }

    // "latents" (local runs only) sorts last, after every field of the request.
    private static int FieldNumber(string field) => GenerateRequest.Descriptor.FindFieldByName(field)?.FieldNumber ?? int.MaxValue;
}
