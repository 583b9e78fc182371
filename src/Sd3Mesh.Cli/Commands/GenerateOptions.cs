using System.CommandLine;
using System.CommandLine.Parsing;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Guidance;
using Sd3Mesh.Pipeline.Imaging;
using Sd3Mesh.Pipeline.Tokenizers;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// The options of `sd3mesh generate`, defined once so the local and the remote (--server) paths share
/// them: <see cref="AddTo"/> puts them on a command, <see cref="Read"/> collects the values,
/// <see cref="BuildRequest"/> turns them into a <see cref="GenerationRequest"/> (reading --init-image and
/// --latents), and <see cref="OptionName"/> maps a request field (snake_case, as the gRPC API names it) to
/// the option a user typed, for error messages.
/// </summary>
public sealed class GenerateOptions
{
    public Argument<string> Prompt { get; } = new("prompt") { Description = "What to draw (CLIP-L's prompt; also prompt 2 and 3 unless given)" };
    public Option<string?> Prompt2 { get; } = new("--prompt-2") { Description = "Prompt for CLIP-G (tokenizer_2/text_encoder_2); default: the prompt" };
    public Option<string?> Prompt3 { get; } = new("--prompt-3") { Description = "Prompt for T5 (tokenizer_3/text_encoder_3); default: the prompt" };
    public Option<string?> Negative { get; } = new("--negative") { Description = "Negative prompt (default: empty)" };
    public Option<string?> Negative2 { get; } = new("--negative-2") { Description = "Negative prompt for CLIP-G; default: --negative" };
    public Option<string?> Negative3 { get; } = new("--negative-3") { Description = "Negative prompt for T5; default: --negative" };
    public Option<int> Steps { get; } = new("--steps") { Description = $"Denoising steps (1-{GenerationRequest.MaxSteps})", DefaultValueFactory = _ => GenerationRequest.DefaultSteps };
    public Option<double> Guidance { get; } = new("--guidance") { Description = "Classifier-free guidance scale (<= 1 disables guidance)", DefaultValueFactory = _ => GenerationRequest.DefaultGuidanceScale };
    public Option<int?> Width { get; } = new("--width") { Description = "Image width, a multiple of 16 (default: the model's sample size, 1024 for SD3 Medium; with --init-image its width)" };
    public Option<int?> Height { get; } = new("--height") { Description = "Image height, a multiple of 16 (default as --width)" };
    public Option<ulong[]> Seed { get; } = new("--seed")
    {
        Description = "Seed; one seed S gives image i the seed S+i, or give one per image (--seed 1 5 9). Default: random",
        AllowMultipleArgumentsPerToken = true,
        Arity = ArgumentArity.ZeroOrMore,
    };
    public Option<int> Count { get; } = new("--count") { Description = $"Images to generate (1-{GenerationRequest.MaxCount})", DefaultValueFactory = _ => 1 };
    public Option<int> MaxSequenceLength { get; } = new("--max-sequence-length") { Description = $"T5 tokens (1-{T5Tokenizer.MaxSupportedLength})", DefaultValueFactory = _ => T5Tokenizer.DefaultMaxLength };
    public Option<bool> NoT5 { get; } = new("--no-t5") { Description = "Skip T5: its part of the prompt embeddings is zeros (as diffusers without text_encoder_3)" };
    public Option<FileInfo?> InitImage { get; } = new("--init-image") { Description = "Image-to-image: start from this PNG (8-bit RGB/RGBA/gray/palette)" };
    public Option<double> Strength { get; } = new("--strength") { Description = "Image-to-image: how much to change the image, (0, 1]", DefaultValueFactory = _ => GenerationRequest.DefaultStrength };
    public Option<FileInfo?> Latents { get; } = new("--latents") { Description = "Start from these latents (.npy, float32 [count, 16, H/8, W/8])" };
    public Option<OutputType> OutputKind { get; } = new("--output-type") { Description = "image (PNG files) or latent (.npy of the final latents)", DefaultValueFactory = _ => OutputType.Image };
    public Option<int?> ClipSkip { get; } = new("--clip-skip") { Description = "Use the CLIP hidden state this many layers before the penultimate" };
    public Option<CfgMode> Cfg { get; } = new("--cfg") { Description = "Guidance passes: batched (one call of batch 2) or split (two calls)", DefaultValueFactory = _ => CfgMode.Batched };
    public Option<DirectoryInfo?> Models { get; } = new("--models") { Description = "SD3 ONNX model folder (optimum layout). Default: tiny random-weight models, created once in ~/.cache/sd3mesh/models" };
    public Option<string> Device { get; } = new("--device") { Description = "Where the submodules run: cpu, cpu:N, cuda:N", DefaultValueFactory = _ => "cpu" };
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

    /// <summary>The values as typed (sizes unresolved until the model is known).</summary>
    public sealed record Values
    {
        public required string Prompt { get; init; }
        public string? Prompt2 { get; init; }
        public string? Prompt3 { get; init; }
        public string? Negative { get; init; }
        public string? Negative2 { get; init; }
        public string? Negative3 { get; init; }
        public int Steps { get; init; } = GenerationRequest.DefaultSteps;
        public double Guidance { get; init; } = GenerationRequest.DefaultGuidanceScale;
        public int? Width { get; init; }
        public int? Height { get; init; }
        public ulong[] Seeds { get; init; } = [];
        public int Count { get; init; } = 1;
        public int MaxSequenceLength { get; init; } = T5Tokenizer.DefaultMaxLength;
        public bool NoT5 { get; init; }
        public string? InitImage { get; init; }
        public double Strength { get; init; } = GenerationRequest.DefaultStrength;
        public string? Latents { get; init; }
        public OutputType OutputType { get; init; } = OutputType.Image;
        public int? ClipSkip { get; init; }
        public CfgMode Cfg { get; init; } = CfgMode.Batched;
        public string? Models { get; init; }
        public string Device { get; init; } = "cpu";
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
        Device = parse.GetValue(Device) ?? "cpu",
        Out = parse.GetValue(Out)?.FullName ?? "out",
    };

    /// <summary>
    /// The request for these values, or the errors (file problems included) that prevent it. Width and
    /// height default to the init image's size, else to the model's default sample size (diffusers:
    /// transformer sample_size * vae_scale_factor).
    /// </summary>
    public static (GenerationRequest? Request, IReadOnlyList<ValidationError> Errors) BuildRequest(Values v, Sd3ModelConfig model)
    {
        var errors = new List<ValidationError>();
        RgbImage? image = null;
        Tensor? latents = null;
        if (v.InitImage is { } path)
        {
            var (loaded, error) = GenerationRequest.LoadInitImage(path);
            if (error is not null) errors.Add(error);
            image = loaded;
        }
        if (v.Latents is { } latentPath)
        {
            var (loaded, error) = GenerationRequest.LoadLatents(latentPath);
            if (error is not null) errors.Add(error);
            latents = loaded;
        }
        int defaultSize = model.DefaultImageSize;
        var request = new GenerationRequest
        {
            Prompt = v.Prompt,
            Prompt2 = v.Prompt2,
            Prompt3 = v.Prompt3,
            NegativePrompt = v.Negative ?? "",
            NegativePrompt2 = v.Negative2,
            NegativePrompt3 = v.Negative3,
            Width = v.Width ?? image?.Width ?? defaultSize,
            Height = v.Height ?? image?.Height ?? defaultSize,
            Steps = v.Steps,
            GuidanceScale = v.Guidance,
            Seeds = v.Seeds,
            Count = v.Count,
            MaxSequenceLength = v.MaxSequenceLength,
            UseT5 = !v.NoT5,
            InitImage = image,
            Strength = v.Strength,
            Latents = latents,
            OutputType = v.OutputType,
            ClipSkip = v.ClipSkip,
            CfgMode = v.Cfg,
        };
        errors.AddRange(request.Validate(model));
        return errors.Count == 0 ? (request, errors) : (null, errors);
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
        ["use_t5"] = "--no-t5",
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
