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
/// the device and feeds the next: two fixed device buffers, each step reading one and writing the other (IoBinding),
/// which is also what CUDA graph replay (--cuda-graph, one captured graph per direction) needs. Prints ms/step and
/// the achieved TFLOP/s (analytic MMDiT FLOPs, <see cref="MmditFlops"/>).
/// </summary>
public static class BenchTransformerCommand
{
    public sealed record Settings(string Preset, string Precision, string Device, int Width, int Height, int Batch, int Steps, int Warmup,
        int TextTokens, ulong Seed, string? Models, string Attention = "contrib", bool Tf32 = false, bool CudaGraph = false);

    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = "Model size: tiny or medium.", DefaultValueFactory = _ => "medium" };
        var precision = ModelsCommand.PrecisionOption();
        precision.DefaultValueFactory = _ => "fp16";
        var device = new Option<string>("--device") { Description = "Device: cpu, cpu:N, cuda:N.", DefaultValueFactory = _ => "cuda:0" };
        var width = new Option<int>("--width") { Description = "Image width in pixels (multiple of 16).", DefaultValueFactory = _ => 1024 };
        var height = new Option<int>("--height") { Description = "Image height in pixels (multiple of 16).", DefaultValueFactory = _ => 1024 };
        var batch = new Option<int>("--batch") { Description = "Batch (2 = one image with classifier-free guidance).", DefaultValueFactory = _ => 2 };
        var steps = new Option<int>("--steps") { Description = "Timed steps.", DefaultValueFactory = _ => 3 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed steps first (the first compiles kernels).", DefaultValueFactory = _ => 1 };
        var tokens = new Option<int>("--text-tokens") { Description = "Text tokens (77 CLIP + 256 T5 in SD3).", DefaultValueFactory = _ => 333 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the random weights.", DefaultValueFactory = _ => 0 };
        var models = new Option<string?>("--models") { Description = "Use this repository's transformer instead of creating one." };
        var attention = ModelsCommand.AttentionOption();
        var tf32 = new Option<bool>("--tf32") { Description = "Allow TF32 for float32 MatMul/Conv on CUDA (default: exact float32)." };
        var cudaGraph = new Option<bool>("--cuda-graph") { Description = "Capture the step into CUDA graphs and replay them (CUDA only)." };
        var command = new Command("transformer", "SD3 transformer ms/step and TFLOP/s on a device (creates the model first).")
        {
            preset, precision, device, width, height, batch, steps, warmup, tokens, seed, models, attention, tf32, cudaGraph,
        };
        command.SetAction(parse => Run(AnsiConsole.Console, new Settings(
            parse.GetValue(preset)!, parse.GetValue(precision)!, parse.GetValue(device)!, parse.GetValue(width), parse.GetValue(height),
            parse.GetValue(batch), parse.GetValue(steps), parse.GetValue(warmup), parse.GetValue(tokens), parse.GetValue(seed), parse.GetValue(models),
            parse.GetValue(attention)!, parse.GetValue(tf32), parse.GetValue(cudaGraph))));
        return command;
    }

    public static int Run(IAnsiConsole console, Settings s)
    {
        try
        {
            return ModelsCommand.Guard(console, () => Measure(console, s));
        }
        catch (DeviceUnavailableException ex)
        {
            console.MarkupLine($"[red]error: {Markup.Escape(ex.Message)}[/]");
            return 2;
        }
        catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException ex)
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
        if (s.CudaGraph && !device.IsCuda) throw new ArgumentException($"--cuda-graph needs a CUDA device, not {device}");
        CudaSupport.EnsureUsable(device); // before creating the model: say at once why a GPU cannot be used
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

            var load = Stopwatch.StartNew();
            // As OnnxSd3Model: float16 models keep TF32 allowed (their convolutions need it for tensor cores).
            bool tf32 = s.Tf32 || inputDType == DType.Float16;
            using var session = OnnxSession.Create(info.ModelPath, new SessionSettings { Device = device, Tf32 = tf32, CudaGraph = s.CudaGraph });
            double loadSeconds = load.Elapsed.TotalSeconds;

            var latent = Random(1, inputDType, s.Batch, config.InChannels, s.Height / 8, s.Width / 8);
            var context = Random(2, info.Input("encoder_hidden_states").DType, s.Batch, s.TextTokens, config.JointAttentionDim);
            var pooled = Random(3, info.Input("pooled_projections").DType, s.Batch, config.PooledProjectionDim);
            var timestep = Tensor.FromArray(Enumerable.Range(0, s.Batch).Select(_ => 750f).ToArray(), s.Batch).ToDType(info.Input("timestep").DType);

            // Conditioning uploaded once; two latent buffers at fixed device addresses, written in turns.
            using var contextValue = DeviceCopies.ToDevice(context, device);
            using var pooledValue = DeviceCopies.ToDevice(pooled, device);
            using var timestepValue = DeviceCopies.ToDevice(timestep, device);
            using var a = session.Allocate(inputDType, latent.Shape);
            using var b = session.Allocate(inputDType, latent.Shape);
            DeviceCopies.CopyInto(latent, a, device);
            var bindings = new[] { (a, b), (b, a) }.Select((pair, i) =>
            {
                var binding = session.CreateBinding();
                binding.BindInput(info.Input("encoder_hidden_states").Name, contextValue);
                binding.BindInput(info.Input("pooled_projections").Name, pooledValue);
                binding.BindInput(info.Input("timestep").Name, timestepValue);
                binding.BindInput(info.Input("hidden_states").Name, pair.Item1);
                binding.BindOutput(output, pair.Item2);
                if (s.CudaGraph) binding.GraphId = i + 1; // one captured graph per direction
                return binding;
            }).ToArray();
            int done = 0;
            void Step() => session.Run(bindings[done++ % 2]);

            try
            {
                var first = Stopwatch.StartNew();
                for (int i = 0; i < s.Warmup; i++) Step();
                double warmupSeconds = first.Elapsed.TotalSeconds;

                var timed = Stopwatch.StartNew();
                for (int i = 0; i < s.Steps; i++) Step(); // each Run returns when the device has finished it
                double msPerStep = timed.Elapsed.TotalMilliseconds / s.Steps;
                var result = DeviceCopies.ToHost(done % 2 == 0 ? a : b, device);
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
                    $"ONNX Runtime {OrtRuntime.Version}; float32 math: {(tf32 && device.IsCuda ? "TF32 allowed" : "exact")}; CUDA graph: {(s.CudaGraph ? "on" : "off")}. " +
                    "FLOPs: analytic MMDiT count (MmditFlops), multiply-add = 2."));
                return finite ? 0 : 2;
            }
            finally
            {
                foreach (var binding in bindings) binding.Dispose();
            }
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
