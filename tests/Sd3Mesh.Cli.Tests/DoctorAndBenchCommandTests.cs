using Sd3Mesh.Cli.Commands;
using Spectre.Console;

namespace Sd3Mesh.Cli.Tests;

public sealed class DoctorAndBenchCommandTests
{
    private static (IAnsiConsole Console, StringWriter Output) Capture(int width = 200) => CapturedConsole.Create(width);

    [Fact]
    public void Doctor_prints_the_runtime_its_providers_and_the_devices_it_sees()
    {
        var (console, output) = Capture();
        Assert.Equal(0, DoctorCommand.Run(console, []));
        string text = output.ToString();
        Assert.Matches(@"Version\s+│ 1\.32\.0 \(Microsoft\.ML\.OnnxRuntime\.Managed \+ \.Gpu\.Linux natives\)", text);
        Assert.Contains(Path.Combine(AppContext.BaseDirectory, "libonnxruntime.so"), text); // loaded from beside the app
        Assert.Contains("CUDAExecutionProvider", text);
        Assert.Contains("not in this build (libonnxruntime_providers_cuda.so is not in", text); // test builds leave the 289 MB provider out
        Assert.Matches(@"CPUExecutionProvider\s+│ Microsoft\s+│ CPU", text);
        Assert.Contains("libcuda.so.1 (the NVIDIA driver's CUDA library) could not be loaded", text); // no GPU here
        Assert.Contains("cuda:N", text);
    }

    [Fact]
    public void Doctor_check_cpu_passes_every_self_check_and_says_which_math_ran()
    {
        var (console, output) = Capture();
        Assert.Equal(0, DoctorCommand.Run(console, ["cpu"], tf32: true));
        string text = output.ToString();
        Assert.Equal(8, text.Split('\n').Count(l => l.Contains("│ pass", StringComparison.Ordinal)));
        Assert.Contains("8/8 checks passed", text);
        Assert.Matches(@"cpu:0\s+│ LayerNormalization\s+│ float16\s+│ float16", text);
        Assert.Matches(@"cpu:0\s+│ MatMul\+Add\s+│ float32\s+│ float32\s+│", text); // TF32 is a CUDA math mode: the CPU stays exact
    }

    [Fact]
    public void Doctor_check_fails_on_an_unusable_device_and_refuses_an_unknown_one()
    {
        var (console, output) = Capture();
        Assert.Equal(1, DoctorCommand.Run(console, ["cuda:0"]));
        Assert.Contains("8 of 8 checks failed", output.ToString());
        Assert.Contains("cuda:0: ONNX Runtime's CUDA execution provider cannot be used: libcuda.so.1 (the NVIDIA driver's CUDA library) could not be loaded.",
            output.ToString().Replace("\n", " "));

        (console, output) = Capture();
        Assert.Equal(2, DoctorCommand.Run(console, ["cpu", "tpu:0"]));
        Assert.Equal("--check: unknown device 'tpu:0': expected cpu, cpu:N or cuda:N (N = 0, 1, 2, ...)", output.ToString().Trim());
    }

    [Fact]
    public void Bench_ort_measures_a_small_matmul_on_the_cpu()
    {
        var (console, output) = Capture();
        var settings = new BenchOrtCommand.Settings("cpu", 48, 2, 1, "none", 1, ["fp32", "fp16"]);
        Assert.Equal(0, BenchOrtCommand.Run(console, settings));
        string text = output.ToString();
        Assert.Matches(@"cpu:0\s+│ float32\s+│ kept on device", text);
        Assert.Matches(@"cpu:0\s+│ float16\s+│ host round trip", text);
        Assert.Contains("cpu:0 float32: copying the output back costs", text);
    }

    [Fact]
    public void Bench_ort_refuses_bad_settings_by_name()
    {
        var (console, output) = Capture();
        Assert.Equal(2, BenchOrtCommand.Run(console, new BenchOrtCommand.Settings("cpu", 0, 2, 1, "none", 1, ["fp32"])));
        Assert.Equal("--size must be between 1 and 16384, got 0", output.ToString().Trim());
        (console, output) = Capture();
        Assert.Equal(2, BenchOrtCommand.Run(console, new BenchOrtCommand.Settings("cpu", 8, 2, 1, "none", 1, ["int8"])));
        Assert.Equal("--dtype: int8 is not measured; use fp32 or fp16", output.ToString().Trim());
        (console, output) = Capture();
        Assert.Equal(2, BenchOrtCommand.Run(console, new BenchOrtCommand.Settings("webgpu:0", 8, 2, 1, "none", 1, ["fp32"])));
        Assert.Equal("--device: unknown device 'webgpu:0': expected cpu, cpu:N or cuda:N (N = 0, 1, 2, ...)", output.ToString().Trim());
        (console, output) = Capture();
        Assert.Equal(2, BenchOrtCommand.Run(console, new BenchOrtCommand.Settings("cuda:0", 8, 2, 1, "none", 1, ["fp32"])));
        Assert.StartsWith("cuda:0: ONNX Runtime's CUDA execution provider cannot be used: libcuda.so.1", output.ToString().Trim());
    }

    [Fact]
    public async Task Bench_pipeline_compares_two_placements_and_sums_ORT_profiles_per_op_type()
    {
        var (console, output) = Capture(240);
        string profiles = Directory.CreateTempSubdirectory("sd3mesh-bench-profile-").FullName;
        try
        {
            var settings = new BenchPipelineCommand.Settings(null, "tiny", "fp32", "cpu", 64, 64, 2, 7.0, Pipeline.Guidance.CfgMode.Split,
                Runs: 1, Warmup: 1, NoT5: false, DecodeOnly: false, Pipeline.VaeTiling.Auto, Threads: 1)
            {
                ComparePlacement = "text_encoder=cpu:1,text_encoder_2=cpu:2,text_encoder_3=cpu:3,transformer_uncond=cpu:4",
                Profile = profiles,
            };
            Assert.Equal(0, await BenchPipelineCommand.RunAsync(console, settings));
            string text = output.ToString();
            Assert.Matches(@"│ encode \(stage, wall\)\s+│", text);
            Assert.Contains("The two placements, same jobs in turns (mean ms)", text);
            Assert.Matches(@"│ cpu:0\s+│ cpu:0; text_encoder=cpu:1, text_encoder_2=cpu:2, text_encoder_3=cpu:3, transformer_uncond=cpu:4\s+│", text);
            Assert.Matches(@"│ job\s+│ [\d.]+\s+│ [\d.]+\s+│ [\d.]+\s+│", text);
            // Profiles of the first placement's sessions, summed per op type (the transformer's attention is contrib MultiHeadAttention).
            Assert.Matches(@"transformer: 8 runs", text); // 2 jobs x 2 steps x 2 passes (split guidance on one device)
            Assert.Matches(@"│ MultiHeadAttention\s+│ \d+\s+│", text);
            Assert.NotEmpty(Directory.GetFiles(profiles, "transformer*.json"));

            (console, output) = Capture();
            Assert.Equal(2, await BenchPipelineCommand.RunAsync(console, settings with { Profile = null, ComparePlacement = "vae=cpu:1" }));
            Assert.StartsWith("error: placement entry 'vae=cpu:1': unknown submodule 'vae'", output.ToString().Trim());
            (console, output) = Capture();
            Assert.Equal(2, await BenchPipelineCommand.RunAsync(console, settings with { Profile = null, ComparePlacement = null, Device = "cuda:0" }));
            Assert.StartsWith("error: cuda:0: ONNX Runtime's CUDA execution provider cannot be used: libcuda.so.1", output.ToString().Trim());
        }
        finally
        {
            Directory.Delete(profiles, recursive: true);
        }
    }
}
