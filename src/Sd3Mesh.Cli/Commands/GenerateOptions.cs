using System.CommandLine;
using Google.Protobuf;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Guidance;
using Sd3Mesh.Protos.V1;
using CfgMode = Sd3Mesh.Pipeline.Guidance.CfgMode;
using Device = Sd3Mesh.Onnx.Device;
using OutputType = Sd3Mesh.Pipeline.OutputType;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// The options of `sd3mesh generate`, defined once for the local and the remote (--server) paths:
/// <see cref="AddTo"/> puts them on a command, <see cref="Read"/> collects the values, <see cref="ToRequest"/>
/// builds the API's GenerateRequest from them (the same request either way: a local run maps and validates
/// it exactly as a server does, see GenerateRequests), and <see cref="OptionName"/> maps a request field
/// (snake_case, as the gRPC API names it) to the option a user typed, for error messages. Options a user
/// leaves out stay unset in the request, so the API's defaults apply.
/// </summary>
public sealed class GenerateOptions
{
    public Argument<string> Prompt { get; } = new("prompt") { Description = "What to draw (CLIP-L's prompt; also prompt 2 and 3 unless given)" };
    public Option<string?> Prompt2 { get; } = new("--prompt-2") { Description = "Prompt for CLIP-G (tokenizer_2/text_encoder_2); default: the prompt" };
    public Option<string?> Prompt3 { get; } = new("--prompt-3") { Description = "Prompt for T5 (tokenizer_3/text_encoder_3); default: the prompt" };
    public Option<string?> Negative { get; } = new("--negative") { Description = "Negative prompt (default: empty)" };
    public Option<string?> Negative2 { get; } = new("--negative-2") { Description = "Negative prompt for CLIP-G; default: --negative" };
    public Option<string?> Negative3 { get; } = new("--negative-3") { Description = "Negative prompt for T5; default: --negative" };
    public Option<uint?> Steps { get; } = CliOptions.WholeNumber("--steps", $"Denoising steps, 1-{GenerationRequest.MaxSteps} (default {GenerationRequest.DefaultSteps})");
    public Option<double?> Guidance { get; } = CliOptions.Number("--guidance", $"Classifier-free guidance scale, 0-100 (default {GenerationRequest.DefaultGuidanceScale}; <= 1 disables guidance)");
    public Option<uint?> Width { get; } = CliOptions.WholeNumber("--width", "Image width, a multiple of 16 (default: the model's sample size, 1024 for SD3 Medium; with --init-image its width)");
    public Option<uint?> Height { get; } = CliOptions.WholeNumber("--height", "Image height, a multiple of 16 (default as --width)");
    public Option<ulong[]> Seed { get; } = new("--seed")
    {
        Description = "Seed; one seed S gives image i the seed S+i, or give one per image (--seed 1 5 9). Default: random",
        AllowMultipleArgumentsPerToken = true,
        Arity = ArgumentArity.ZeroOrMore,
    };
    public Option<uint?> Count { get; } = CliOptions.WholeNumber("--count", $"Images to generate, 1-{GenerationRequest.MaxCount} (default: the number of seeds given, else 1)");
    public Option<uint?> MaxSequenceLength { get; } = CliOptions.WholeNumber("--max-sequence-length", $"T5 tokens, 1-{GenerationRequest.MaxSequenceLengthLimit} (default {GenerationRequest.DefaultMaxSequenceLength})");
    public Option<bool> NoT5 { get; } = new("--no-t5") { Description = "Skip T5: its part of the prompt embeddings is zeros (as diffusers without text_encoder_3)" };
    public Option<FileInfo?> InitImage { get; } = new("--init-image") { Description = "Image-to-image: start from this PNG (8-bit RGB/RGBA/gray/palette)" };
    public Option<double?> Strength { get; } = CliOptions.Number("--strength", $"Image-to-image only: how much to change the image, (0, 1] (default {GenerationRequest.DefaultStrength})");
    public Option<FileInfo?> Latents { get; } = new("--latents") { Description = "Start from these latents (.npy, float32 [count, 16, H/8, W/8]; not with --server)" };
    public Option<OutputType> OutputKind { get; } = new("--output-type") { Description = "image (PNG files) or latent (.npy of the final latents)", DefaultValueFactory = _ => OutputType.Image };
    public Option<uint?> ClipSkip { get; } = CliOptions.WholeNumber("--clip-skip", "Use the CLIP hidden state this many layers before the penultimate");
    public Option<CfgMode> Cfg { get; } = new("--cfg") { Description = "Guidance passes: batched (one call of batch 2) or split (two calls)", DefaultValueFactory = _ => CfgMode.Batched };
    public Option<DirectoryInfo?> Models { get; } = new("--models") { Description = "SD3 ONNX model folder (optimum layout). Default: tiny random-weight models, created once in ~/.cache/sd3mesh/models; not with --server" };
    public Option<Device?> Device { get; } = CliOptions.Device("--device", $"Where the submodules run: {Onnx.Device.AcceptedForms} (default cpu; not with --server)");
    public Option<DirectoryInfo> Out { get; } = new("--out") { Description = "Output folder (files sd3_generated_NNN.png, never overwritten)", DefaultValueFactory = _ => new DirectoryInfo("out") };

    public IEnumerable<Option> Options =>
    [
        Prompt2, Prompt3, Negative, Negative2, Negative3, Steps, Guidance, Width, Height, Seed, Count, MaxSequenceLength, NoT5,
        InitImage, Strength, Latents, OutputKind, ClipSkip, Cfg, Models, Device, Out,
    ];

    public void AddTo(Command command)
    {
        command.Arguments.Add(Prompt);
        foreach (var option in Options) command.Options.Add(option);
    }

    /// <summary>The values as typed; null where the user left an option out.</summary>
    public sealed record Values
    {
        public required string Prompt { get; init; }
        public string? Prompt2 { get; init; }
        public string? Prompt3 { get; init; }
        public string? Negative { get; init; }
        public string? Negative2 { get; init; }
        public string? Negative3 { get; init; }
        public uint? Steps { get; init; }
        public double? Guidance { get; init; }
        public uint? Width { get; init; }
        public uint? Height { get; init; }
        public ulong[] Seeds { get; init; } = [];
        public uint? Count { get; init; }
        public uint? MaxSequenceLength { get; init; }
        public bool NoT5 { get; init; }
        public string? InitImage { get; init; }
        public double? Strength { get; init; }
        public string? Latents { get; init; }
        public OutputType OutputType { get; init; } = OutputType.Image;
        public uint? ClipSkip { get; init; }
        public CfgMode Cfg { get; init; } = CfgMode.Batched;
        public string? Models { get; init; }
        public Device? Device { get; init; }
        public string Out { get; init; } = "out";
    }

    public Values Read(ParseResult parse) => new()
    {
        Prompt = parse.GetValue(Prompt) ?? "",
        Prompt2 = parse.GetValue(Prompt2),
        Prompt3 = parse.GetValue(Prompt3),
        Negative = parse.GetValue(Negative),
        Negative2 = parse.GetValue(Negative2),
        Negative3 = parse.GetValue(Negative3),
        Steps = parse.GetValue(Steps),
        Guidance = parse.GetValue(Guidance),
        Width = parse.GetValue(Width),
        Height = parse.GetValue(Height),
        Seeds = parse.GetValue(Seed) ?? [],
        Count = parse.GetValue(Count),
        MaxSequenceLength = parse.GetValue(MaxSequenceLength),
        NoT5 = parse.GetValue(NoT5),
        InitImage = parse.GetValue(InitImage)?.FullName,
        Strength = parse.GetValue(Strength),
        Latents = parse.GetValue(Latents)?.FullName,
        OutputType = parse.GetValue(OutputKind),
        ClipSkip = parse.GetValue(ClipSkip),
        Cfg = parse.GetValue(Cfg),
        Models = parse.GetValue(Models)?.FullName,
        Device = parse.GetValue(Device),
        Out = parse.GetValue(Out)?.FullName ?? "out",
    };

    /// <summary>
    /// The API's request for these values (the init image's bytes read from its file), or the errors that
    /// prevent it (an unreadable --init-image). Local-only options (--models, --device, --latents) are not
    /// part of it. Guidance and strength travel as the API's float, as they do to a server.
    /// </summary>
    public static (GenerateRequest Request, IReadOnlyList<ValidationError> Errors) ToRequest(Values v)
    {
        var errors = new List<ValidationError>();
        var request = new GenerateRequest
        {
            Prompt = v.Prompt,
            Prompt2 = v.Prompt2 ?? "",
            Prompt3 = v.Prompt3 ?? "",
            NegativePrompt = v.Negative ?? "",
            NegativePrompt2 = v.Negative2 ?? "",
            NegativePrompt3 = v.Negative3 ?? "",
            NoT5 = v.NoT5,
            OutputType = v.OutputType == OutputType.Latent ? Protos.V1.OutputType.Latent : Protos.V1.OutputType.Image,
            ClipSkip = v.ClipSkip ?? 0,
            CfgMode = v.Cfg == CfgMode.Split ? Protos.V1.CfgMode.Split : Protos.V1.CfgMode.Batched,
        };
        if (v.Steps is { } steps) request.Steps = steps;
        if (v.Guidance is { } guidance) request.GuidanceScale = (float)guidance;
        if (v.Width is { } width) request.Width = width;
        if (v.Height is { } height) request.Height = height;
        if (v.Count is { } count) request.Count = count;
        if (v.MaxSequenceLength is { } length) request.MaxSequenceLength = length;
        if (v.Strength is { } strength) request.Strength = (float)strength;
        if (v.Seeds.Length == 1) request.Seed = v.Seeds[0];
        else request.Seeds.AddRange(v.Seeds);
        if (v.InitImage is { } path)
        {
            try { request.InitImage = ByteString.CopyFrom(File.ReadAllBytes(path)); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                errors.Add(new ValidationError("init_image", $"cannot read '{path}': {e.Message}"));
            }
        }
        return (request, errors);
    }

    private static readonly Dictionary<string, string> FieldToOption = new(StringComparer.Ordinal)
    {
        ["prompt"] = "PROMPT",
        ["prompt_2"] = "--prompt-2",
        ["prompt_3"] = "--prompt-3",
        ["negative_prompt"] = "--negative",
        ["negative_prompt_2"] = "--negative-2",
        ["negative_prompt_3"] = "--negative-3",
        ["width"] = "--width",
        ["height"] = "--height",
        ["steps"] = "--steps",
        ["guidance_scale"] = "--guidance",
        ["seeds"] = "--seed",
        ["count"] = "--count",
        ["max_sequence_length"] = "--max-sequence-length",
        ["no_t5"] = "--no-t5",
        ["init_image"] = "--init-image",
        ["strength"] = "--strength",
        ["latents"] = "--latents",
        ["output_type"] = "--output-type",
        ["clip_skip"] = "--clip-skip",
        ["cfg_mode"] = "--cfg",
    };

    /// <summary>The CLI option for a request field ("max_sequence_length" -> "--max-sequence-length").</summary>
    public static string OptionName(string field) => FieldToOption.GetValueOrDefault(field, field);

    /// <summary>"--steps: 0 is outside the allowed range 1..1000".</summary>
    public static string Describe(ValidationError error) => $"{OptionName(error.Field)}: {error.Message}";
}
