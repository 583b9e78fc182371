using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Sd3Mesh.Models;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Onnx;
using Sd3Mesh.Tensors;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh bench transformer`: creates only the SD3 transformer (seeded, in a temporary folder) or takes one from
/// --models, loads it on a device, warms up, then times denoising-style steps in which each step's output stays on
/// the device and feeds the next (IoBinding), and prints ms/step and the achieved TFLOP/s (analytic MMDiT FLOPs,
/// <see cref="MmditFlops"/>).
/// </summary>
public static class BenchTransformerCommand
{
    public sealed record Settings(string Preset, string Precision, string Device, int Width, int Height, int Batch, int Steps, int Warmup,
        int TextTokens, ulong Seed, string? Models, string Attention = "contrib");

    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = "Model size: tiny or medium.", DefaultValueFactory = _ => "medium" };
        var precision = ModelsCommand.PrecisionOption();
        precision.DefaultValueFactory = _ => "fp16";
        var device = new Option<string>("--device") { Description = "Device: cpu, webgpu:0, cuda:0.", DefaultValueFactory = _ => "webgpu:0" };
        var width = new Option<int>("--width") { Description = "Image width in pixels (multiple of 16).", DefaultValueFactory = _ => 1024 };
        var height = new Option<int>("--height") { Description = "Image height in pixels (multiple of 16).", DefaultValueFactory = _ => 1024 };
        var batch = new Option<int>("--batch") { Description = "Batch (2 = one image with classifier-free guidance).", DefaultValueFactory = _ => 2 };
        var steps = new Option<int>("--steps") { Description = "Timed steps.", DefaultValueFactory = _ => 3 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed steps first (the first compiles kernels).", DefaultValueFactory = _ => 1 };
        var tokens = new Option<int>("--text-tokens") { Description = "Text tokens (77 CLIP + 256 T5 in SD3).", DefaultValueFactory = _ => 333 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the random weights.", DefaultValueFactory = _ => 0 };
        var models = new Option<string?>("--models") { Description = "Use this repository's transformer instead of creating one." };
        var attention = ModelsCommand.AttentionOption();
        var command = new Command("transformer", "SD3 transformer ms/step and TFLOP/s on a device (creates the model first).")
        {
            preset, precision, device, width, height, batch, steps, warmup, tokens, seed, models, attention,
        };
        command.SetAction(parse => Run(AnsiConsole.Console, new Settings(
            parse.GetValue(preset)!, parse.GetValue(precision)!, parse.GetValue(device)!, parse.GetValue(width), parse.GetValue(height),
            parse.GetValue(batch), parse.GetValue(steps), parse.GetValue(warmup), parse.GetValue(tokens), parse.GetValue(seed), parse.GetValue(models), parse.GetValue(attention)!)));
        return command;
    }

    public static int Run(IAnsiConsole console, Settings s)
    {
        try
        {
            return ModelsCommand.Guard(console, () => Measure(console, s));
        }
        catch (Exception ex) when (ex is OrtException or DeviceUnavailableException or OrtLibraryException)
        {
            console.MarkupLine($"[red]error: {Markup.Escape(ex.Message)}[/]");
            return 1;
        }
    }

    private static int Measure(IAnsiConsole console, Settings s)
    {
        if (s.Width <= 0 || s.Width % 16 != 0) throw new ArgumentException($"--width must be a positive multiple of 16 (is {s.Width})");
        if (s.Height <= 0 || s.Height % 16 != 0) throw new ArgumentException($"--height must be a positive multiple of 16 (is {s.Height})");
        if (s.Batch < 1) throw new ArgumentException($"--batch must be at least 1 (is {s.Batch})");
        if (s.Steps < 1) throw new ArgumentException($"--steps must be at least 1 (is {s.Steps})");
        if (s.Warmup < 0) throw new ArgumentException($"--warmup must be at least 0 (is {s.Warmup})");
        if (s.TextTokens < 1) throw new ArgumentException($"--text-tokens must be at least 1 (is {s.TextTokens})");
        var device = Device.Parse(s.Device);
        var dtype = Models.Precision.Parse(s.Precision);
        var kernel = ModelsCommand.ParseAttention(s.Attention);

        string dir = s.Models ?? Path.Combine(Path.GetTempPath(), $"sd3mesh-bench-transformer-{Environment.ProcessId}");
        double createSeconds = double.NaN;
        try
        {
            if (s.Models is null)
            {
                var clock = Stopwatch.StartNew();
                ModelWriteProgress.Run(console, p => ModelZoo.Create(s.Preset, dtype, s.Seed, dir, p, [Submodule.Transformer], attention: kernel));
                createSeconds = clock.Elapsed.TotalSeconds;
            }
            var repo = ModelRepository.Open(dir);
            var info = repo[Submodule.Transformer];
            var config = repo.TransformerConfig;
            var inputDType = info.Input("hidden_states").DType;
            string output = info.Output("out_hidden_states").Name;

            using var environment = OrtEnvironment.Create();
            var load = Stopwatch.StartNew();
            using var session = InferenceSession.Create(environment, info.ModelPath, new SessionOptions { Device = device });
            double loadSeconds = load.Elapsed.TotalSeconds;

            var latent = Random(1, inputDType, s.Batch, config.InChannels, s.Height / 8, s.Width / 8);
            var context = Random(2, info.Input("encoder_hidden_states").DType, s.Batch, s.TextTokens, config.JointAttentionDim);
            var pooled = Random(3, info.Input("pooled_projections").DType, s.Batch, config.PooledProjectionDim);
            var timestep = Tensor.FromArray(Enumerable.Range(0, s.Batch).Select(_ => 750f).ToArray(), s.Batch).ToDType(info.Input("timestep").DType);

            using var binding = session.CreateIoBinding();
            binding.BindInput(info.Input("encoder_hidden_states").Name, context);
            binding.BindInput(info.Input("pooled_projections").Name, pooled);
            binding.BindInput(info.Input("timestep").Name, timestep);
            binding.BindInput(info.Input("hidden_states").Name, latent);
            binding.BindOutput(output, session.Device);

            // Each step's output stays on the device and becomes the next step's latent, as in a denoising loop.
            OrtValue? last = null;
            void Step()
            {
                session.Run(binding);
                last?.Dispose();
                last = binding.GetOutputs()[output];
                binding.BindInput(info.Input("hidden_states").Name, last);
            }

            var first = Stopwatch.StartNew();
            for (int i = 0; i < s.Warmup; i++) Step();
            if (last is not null) _ = last.ToTensor(); // wait for the device
            double warmupSeconds = first.Elapsed.TotalSeconds;

            var timed = Stopwatch.StartNew();
            for (int i = 0; i < s.Steps; i++) Step();
            var result = last!.ToTensor(); // copying the last output back waits for every queued step
            double msPerStep = timed.Elapsed.TotalMilliseconds / s.Steps;
            last.Dispose();
            bool finite = result.ToFloatArray().All(float.IsFinite);

            double flops = MmditFlops.PerSample(config, s.Height, s.Width, s.TextTokens) * s.Batch;
            var table = new Table().AddColumns("device", "model", "batch", "image", "tokens img+txt", "ms/step", "TFLOP/step", "TFLOP/s");
            int imageTokens = s.Height / 8 / config.PatchSize * (s.Width / 8 / config.PatchSize);
            table.AddRow(session.Device.ToString(), $"{s.Preset} {Models.Precision.Name(inputDType)} {repo.Manifest?.Attention ?? "?"}", s.Batch.ToString(CultureInfo.InvariantCulture),
                $"{s.Width}x{s.Height}", $"{imageTokens}+{s.TextTokens}", msPerStep.ToString("0.0", CultureInfo.InvariantCulture),
                (flops / 1e12).ToString("0.000", CultureInfo.InvariantCulture), (flops / (msPerStep / 1000) / 1e12).ToString("0.00", CultureInfo.InvariantCulture));
            console.Write(table);
            console.MarkupLine(Markup.Escape(
                $"{s.Steps} timed steps after {s.Warmup} warm-up ({warmupSeconds:0.00} s); session load {loadSeconds:0.00} s; " +
                (double.IsNaN(createSeconds) ? $"model from {dir}" : $"model created in {createSeconds:0.0} s") +
                $"; output finite: {finite}; peak RSS {ModelWriteProgress.Bytes(BenchModelsCommand.PeakResidentBytes())}; " +
                $"ONNX Runtime {environment.Library.Version}. FLOPs: analytic MMDiT count (MmditFlops), multiply-add = 2."));
            return finite ? 0 : 2;
        }
        finally
        {
            if (s.Models is null && Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    private static Tensor Random(ulong stream, DType dtype, params long[] shape)
    {
        var values = new float[new TensorShape(shape).ElementCount];
        SeededRandom.FillNormalParallel(values, 1234, stream);
        return Tensor.FromArray(values, shape).ToDType(dtype);
    }
}
