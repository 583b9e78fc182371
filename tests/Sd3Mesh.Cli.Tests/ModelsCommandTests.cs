using Sd3Mesh.Cli.Commands;
using Spectre.Console;

namespace Sd3Mesh.Cli.Tests;

public sealed class ModelsCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sd3mesh-cli-models-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (IAnsiConsole Console, StringWriter Output) Capture() => CapturedConsole.Create();

    [Fact]
    public void Create_then_inspect_lists_the_submodules()
    {
        var (console, output) = Capture();
        var dir = Path.Combine(_dir, "tiny");
        Assert.Equal(0, ModelsCreateCommand.Run(console, new ModelsCreateCommand.Settings("tiny", "fp16", 5, "transformer,vae_decoder", false, dir)));
        Assert.Contains($"wrote {dir}", output.ToString());

        (console, output) = Capture();
        Assert.Equal(0, ModelsInspectCommand.Run(console, dir));
        var text = output.ToString();
        Assert.Contains("sd3mesh.json: seeded preset tiny, seed 5, fp16", text);
        Assert.Matches(@"│ transformer\s+│ 0\.2 M\s+│", text);
        Assert.Contains("in   timestep: float32[batch]", text);
        Assert.Contains("out  sample: float16[batch, 3, height, width]", text);
        Assert.Contains("VAE scaling_factor 1.5305, shift_factor 0.0609", text);
        Assert.DoesNotContain("text_encoder ", text);
        Assert.Contains("tokenizer (CLIPTokenizer): BPE, ids < 49408, pad <|endoftext|> (49407), 2 added tokens, rows of 77", text);
        Assert.Contains("tokenizer_2 (CLIPTokenizer): BPE, ids < 49408, pad ! (0), 3 added tokens", text);
        Assert.Contains("tokenizer_3 (T5TokenizerFast): not used (no text_encoder_3, or no tokenizer_3/): runs without T5", text);

        // A tokenizer the pipeline could not use fails inspect with the reason.
        var merges = Path.Combine(dir, "tokenizer_2", "merges.txt");
        File.AppendAllText(merges, "not-a-token merge\n");
        (console, output) = Capture();
        Assert.Equal(ExitCodes.Usage, ModelsInspectCommand.Run(console, dir));
        Assert.Contains($"error: tokenizer_2/ (CLIPTokenizer) cannot be loaded: {merges}: the BPE merge token 'not-a-token' is not in the vocabulary",
            output.ToString().ReplaceLineEndings(""));
    }

    [Fact]
    public void Bad_input_is_one_line_and_exit_code_2()
    {
        var (console, output) = Capture();
        Assert.Equal(2, ModelsInspectCommand.Run(console, Path.Combine(_dir, "none")));
        Assert.Equal($"error: {Path.Combine(_dir, "none")} is missing", output.ToString().Trim());

        (console, output) = Capture();
        Assert.Equal(2, ModelsCreateCommand.Run(console, new ModelsCreateCommand.Settings("tiny", "fp32", 0, "unet", false, Path.Combine(_dir, "x"))));
        Assert.Equal("error: unknown submodule 'unet': expected one of text_encoder, text_encoder_2, text_encoder_3, transformer, vae_decoder, vae_encoder",
            output.ToString().Trim());

        (console, output) = Capture();
        Assert.Equal(2, ModelsConvertCommand.Run(console, _dir, Path.Combine(_dir, "out"), "fp16", false));
        Assert.Equal($"error: {Path.Combine(_dir, "model_index.json")} is missing (expected a diffusers StableDiffusion3Pipeline folder)", output.ToString().Trim());
    }

    [Fact]
    public void Bench_transformer_runs_the_tiny_model_on_the_cpu()
    {
        var (console, output) = Capture();
        int rc = BenchTransformerCommand.Run(console, new BenchTransformerCommand.Settings("tiny", "fp32", "cpu", 128, 128, 2, 2, 1, 20, 0, null));
        var text = output.ToString();
        Assert.True(rc == 0, text);
        Assert.Matches(@"│ cpu:0\s+│ tiny fp32 contrib\s+│ 2\s+│ 128x128\s+│ 64\+20\s+│", text);
        Assert.Contains("output finite: True", text);

        (console, output) = Capture();
        Assert.Equal(2, BenchTransformerCommand.Run(console, new BenchTransformerCommand.Settings("tiny", "fp32", "cpu", 100, 128, 2, 2, 1, 20, 0, null)));
        Assert.Equal("error: --width must be a positive multiple of 16 (is 100)", output.ToString().Trim());
    }

    [Fact]
    public void Bench_create_reports_time_bytes_and_peak_memory()
    {
        var (console, output) = Capture();
        Assert.Equal(0, BenchModelsCommand.RunCreate(console, "tiny", "fp32", 0, null, false));
        Assert.Matches(@"│ tiny\s+│ fp32\s+│ 0\.006 B\s+│ 2\d\.\d MiB\s+│", output.ToString());
    }
}
