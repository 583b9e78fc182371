using Sd3Mesh.Cli.Commands;
using Sd3Mesh.Models;
using Sd3Mesh.Pipeline.Imaging;
using Sd3Mesh.Tensors;
using Spectre.Console;

namespace Sd3Mesh.Cli.Tests;

public sealed class TinyModelFolder : IDisposable
{
    public TinyModelFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "sd3mesh-cli-tests-" + Guid.NewGuid().ToString("N")[..8]);
        ModelZoo.Create("tiny", DType.Float32, 0, System.IO.Path.Combine(Path, "model"));
    }

    public string Path { get; }
    public string Model => System.IO.Path.Combine(Path, "model");

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

public class GenerateRunnerTests(TinyModelFolder folder) : IClassFixture<TinyModelFolder>
{
    private static (IAnsiConsole Console, StringWriter Output) Console() => CapturedConsole.Create();

    private GenerateOptions.Values Values(string outDir) => new()
    {
        Prompt = "a photo of a cat",
        Negative = "blurry",
        Width = 64,
        Height = 64,
        Steps = 4,
        Seeds = [7],
        Models = folder.Model,
        Out = outDir,
    };

    [Fact]
    public async Task Writes_numbered_pngs_with_metadata_and_a_summary()
    {
        var outDir = Path.Combine(folder.Path, "out-" + Guid.NewGuid().ToString("N")[..6]);
        var (console, output) = Console();
        var values = Values(outDir);
        int code = await GenerateRunner.RunAsync(console, values, () => GenerateCommand.Load(console, values.Models, Onnx.Device.Cpu));
        Assert.True(code == 0, output.ToString());
        var png = PngDecoder.Read(Path.Combine(outDir, "sd3_generated_001.png"));
        Assert.Equal((64, 64), (png.Image.Width, png.Image.Height));
        Assert.Equal("a photo of a cat", png.Text["prompt"]);
        Assert.Equal("7", png.Text["seed"]);
        Assert.Equal("tiny-fp32-seed0", png.Text["model"]);
        Assert.StartsWith("a photo of a cat\nNegative prompt: blurry\nSteps: 4, Sampler: Euler", png.Text["parameters"]);
        var text = output.ToString();
        Assert.Contains("random weights: the images are noise", text);
        Assert.Contains("transformer", text);
        Assert.Contains("outside submodule calls", text);
        Assert.Contains("one-silo cluster in this process", text);

        // Same options and seed: a second file, byte-identical; nothing overwritten.
        Assert.Equal(0, await GenerateRunner.RunAsync(console, values, () => GenerateCommand.Load(console, values.Models, Onnx.Device.Cpu)));
        Assert.Equal(File.ReadAllBytes(Path.Combine(outDir, "sd3_generated_001.png")), File.ReadAllBytes(Path.Combine(outDir, "sd3_generated_002.png")));
    }

    [Fact]
    public async Task Invalid_options_exit_2_naming_each_option()
    {
        var (console, output) = Console();
        var values = Values(Path.Combine(folder.Path, "never")) with { Steps = 0, Width = 65, MaxSequenceLength = 600 };
        int code = await GenerateRunner.RunAsync(console, values, () => GenerateCommand.Load(console, values.Models, Onnx.Device.Cpu));
        Assert.Equal(2, code);
        var text = output.ToString();
        Assert.Contains("--steps: 0 is outside the allowed range 1..1000", text);
        Assert.Contains("--width: 65 is not a multiple of 16", text);
        Assert.Contains("--max-sequence-length: 600 is outside the allowed range 1..512", text);
        Assert.False(Directory.Exists(Path.Combine(folder.Path, "never")));
    }

    [Fact]
    public async Task Latent_output_writes_an_npy_and_image_to_image_reads_a_png()
    {
        var outDir = Path.Combine(folder.Path, "out-" + Guid.NewGuid().ToString("N")[..6]);
        var (console, output) = Console();
        var values = Values(outDir) with { OutputType = Sd3Mesh.Pipeline.OutputType.Latent, Count = 2 };
        Assert.Equal(0, await GenerateRunner.RunAsync(console, values, () => GenerateCommand.Load(console, values.Models, Onnx.Device.Cpu)));
        var latents = Sd3Mesh.Pipeline.IO.NpyFile.Read(Path.Combine(outDir, "sd3_generated_001.npy"));
        Assert.Equal(new TensorShape(2, 16, 8, 8), latents.Shape);

        // Start from those latents, then use the result as an init image (its size becomes the default).
        var fromLatents = Values(outDir) with { Latents = Path.Combine(outDir, "sd3_generated_001.npy"), Count = 2, Seeds = [] };
        Assert.Equal(0, await GenerateRunner.RunAsync(console, fromLatents, () => GenerateCommand.Load(console, fromLatents.Models, Onnx.Device.Cpu)));
        var img2img = Values(outDir) with { InitImage = Path.Combine(outDir, "sd3_generated_001.png"), Width = null, Height = null, Strength = 0.5 };
        Assert.True(await GenerateRunner.RunAsync(console, img2img, () => GenerateCommand.Load(console, img2img.Models, Onnx.Device.Cpu)) == 0, output.ToString());
        Assert.True(File.Exists(Path.Combine(outDir, "sd3_generated_003.png")));
    }
}
