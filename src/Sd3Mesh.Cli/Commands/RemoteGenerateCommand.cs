using System.CommandLine;
using Google.Protobuf;
using Sd3Mesh.Protos.V1;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// A temporary `sd3mesh generate` that only knows the remote path (--server). The local generate
/// (GenerateCommand, with the same option names) replaces it and calls <see cref="RemoteGenerate"/>
/// when --server is given; <see cref="BuildRequest"/> shows the option-to-field mapping.
/// </summary>
public static class RemoteGenerateCommand
{
    public static Command Create()
    {
        var prompt = new Argument<string>("PROMPT") { Description = "What to draw" };
        var prompt2 = new Option<string?>("--prompt-2") { Description = "Prompt for OpenCLIP bigG; default: PROMPT" };
        var prompt3 = new Option<string?>("--prompt-3") { Description = "Prompt for T5-XXL; default: PROMPT" };
        var negative = new Option<string?>("--negative") { Description = "Negative prompt (default: empty)" };
        var negative2 = new Option<string?>("--negative-2") { Description = "Negative prompt for OpenCLIP bigG; default: --negative" };
        var negative3 = new Option<string?>("--negative-3") { Description = "Negative prompt for T5-XXL; default: --negative" };
        var steps = new Option<int>("--steps") { Description = "Denoising steps (1-1000)", DefaultValueFactory = _ => 28 };
        var guidance = new Option<double>("--guidance") { Description = "Classifier-free guidance scale (0-100; <= 1 disables it)", DefaultValueFactory = _ => 7.0 };
        var width = new Option<int?>("--width") { Description = "Width, a multiple of 16 in [16, 4096] (default 1024)" };
        var height = new Option<int?>("--height") { Description = "Height, a multiple of 16 in [16, 4096] (default 1024)" };
        var seed = new Option<ulong[]>("--seed")
        {
            Description = "Seed S (image i uses S+i) or one seed per image (--seed 1 5 9); default: random",
            AllowMultipleArgumentsPerToken = true,
            Arity = ArgumentArity.ZeroOrMore,
        };
        var count = new Option<int?>("--count") { Description = "Images to generate (1-16; default 1, or the number of seeds)" };
        var maxSequence = new Option<int>("--max-sequence-length") { Description = "T5 tokens (1-512)", DefaultValueFactory = _ => 256 };
        var noT5 = new Option<bool>("--no-t5") { Description = "Skip T5-XXL (its embeddings are zeros)" };
        var initImage = new Option<FileInfo?>("--init-image") { Description = "Image-to-image: start from this PNG" };
        var strength = new Option<double?>("--strength") { Description = "Image-to-image: how much to change, (0, 1] (default 0.6)" };
        var outputType = new Option<string>("--output-type") { Description = "image (PNG) or latent (.npy)", DefaultValueFactory = _ => "image" };
        outputType.AcceptOnlyFromAmong("image", "latent");
        var clipSkip = new Option<int>("--clip-skip") { Description = "CLIP layers to skip before the penultimate (0-11)" };
        var cfg = new Option<string>("--cfg") { Description = "Guidance passes: batched or split", DefaultValueFactory = _ => "batched" };
        cfg.AcceptOnlyFromAmong("batched", "split");
        var previews = new Option<int>("--preview-interval") { Description = "Ask for a preview every N steps (0: none)" };
        var outDir = new Option<DirectoryInfo>("--out") { Description = "Output folder (sd3_generated_NNN.png, never overwritten)", DefaultValueFactory = _ => new DirectoryInfo("out") };
        var server = new Option<string?>("--server") { Description = $"sd3mesh server URL, e.g. {ServerChannel.DefaultAddress} (required in this build)" };

        var command = new Command("generate", "Generate images with SD3 on an sd3mesh server (--server URL)");
        command.Arguments.Add(prompt);
        foreach (var option in new Option[] { prompt2, prompt3, negative, negative2, negative3, steps, guidance, width, height, seed, count,
                     maxSequence, noT5, initImage, strength, outputType, clipSkip, cfg, previews, outDir, server })
            command.Options.Add(option);

        command.SetAction(async (parse, ct) =>
        {
            var console = AnsiConsole.Console;
            if (parse.GetValue(server) is not { } address)
            {
                console.MarkupLine("[red]this build of sd3mesh generates only on a server: pass --server URL (see `sd3mesh serve`)[/]");
                return 2;
            }
            Uri url;
            GenerateRequest request;
            try
            {
                url = ServerChannel.Parse(address);
                request = BuildRequest(new Values(parse.GetValue(prompt)!, parse.GetValue(prompt2), parse.GetValue(prompt3),
                    parse.GetValue(negative), parse.GetValue(negative2), parse.GetValue(negative3), parse.GetValue(steps),
                    parse.GetValue(guidance), parse.GetValue(width), parse.GetValue(height), parse.GetValue(seed) ?? [],
                    parse.GetValue(count), parse.GetValue(maxSequence), parse.GetValue(noT5), parse.GetValue(initImage),
                    parse.GetValue(strength), parse.GetValue(outputType)!, parse.GetValue(clipSkip), parse.GetValue(cfg)!,
                    parse.GetValue(previews)));
            }
            catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException)
            {
                console.MarkupLine($"[red]{Markup.Escape(e.Message)}[/]");
                return 2;
            }
            return await RemoteGenerate.RunAsync(request, url, parse.GetValue(outDir)!, console, ct);
        });
        return command;
    }

    public sealed record Values(string Prompt, string? Prompt2, string? Prompt3, string? Negative, string? Negative2, string? Negative3,
        int Steps, double Guidance, int? Width, int? Height, ulong[] Seeds, int? Count, int MaxSequenceLength, bool NoT5,
        FileInfo? InitImage, double? Strength, string OutputType, int ClipSkip, string Cfg, int PreviewInterval);

    /// <summary>
    /// The wire request for the options. Range checks are the server's (it answers INVALID_ARGUMENT naming
    /// the field); here only what cannot be sent: negative numbers, an unreadable --init-image.
    /// </summary>
    public static GenerateRequest BuildRequest(Values v)
    {
        static uint NonNegative(string option, long value) =>
            value >= 0 ? (uint)value : throw new ArgumentException($"{option} must not be negative, got {value}");
        var request = new GenerateRequest
        {
            Prompt = v.Prompt,
            Prompt2 = v.Prompt2 ?? "",
            Prompt3 = v.Prompt3 ?? "",
            NegativePrompt = v.Negative ?? "",
            NegativePrompt2 = v.Negative2 ?? "",
            NegativePrompt3 = v.Negative3 ?? "",
            Steps = NonNegative("--steps", v.Steps),
            GuidanceScale = (float)v.Guidance,
            MaxSequenceLength = NonNegative("--max-sequence-length", v.MaxSequenceLength),
            NoT5 = v.NoT5,
            OutputType = v.OutputType == "latent" ? OutputType.Latent : OutputType.Image,
            ClipSkip = NonNegative("--clip-skip", v.ClipSkip),
            CfgMode = v.Cfg == "split" ? CfgMode.Split : CfgMode.Batched,
            PreviewInterval = NonNegative("--preview-interval", v.PreviewInterval),
        };
        if (v.Width is { } w) request.Width = NonNegative("--width", w);
        if (v.Height is { } h) request.Height = NonNegative("--height", h);
        if (v.Count is { } c) request.Count = NonNegative("--count", c);
        if (v.Seeds.Length == 1) request.Seed = v.Seeds[0];
        else request.Seeds.AddRange(v.Seeds);
        if (v.InitImage is { } image)
        {
            if (!image.Exists) throw new ArgumentException($"--init-image: '{image.FullName}' does not exist");
            request.InitImage = ByteString.CopyFrom(File.ReadAllBytes(image.FullName));
            request.Strength = (float)(v.Strength ?? 0.6);
        }
        else if (v.Strength is { } s)
        {
            request.Strength = (float)s; // the server explains that --strength needs --init-image
        }
        return request;
    }
}
