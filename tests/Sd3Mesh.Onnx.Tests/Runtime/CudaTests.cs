using Sd3Mesh.Onnx.Diagnostics;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Tests.Runtime;

/// <summary>What a user is told when CUDA cannot be used (this machine has no GPU and no CUDA).</summary>
public sealed class CudaTests
{
    private const string Advice =
        "ONNX Runtime 1.32's CUDA provider needs CUDA 13 (libcudart.so.13, libcublasLt.so.13, libcublas.so.13, libcurand.so.10), " +
        "cuDNN 9 (libcudnn.so.9) and the NVIDIA driver (libcuda.so.1). Install them, or point the loader at the folders that hold " +
        "them, e.g. `export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/path/to/cudnn/lib:$LD_LIBRARY_PATH`; then `sd3mesh doctor` shows what it finds.";

    [Fact]
    public void A_cuda_session_without_cuda_names_the_first_missing_library_and_what_to_do()
    {
        var e = Assert.Throws<DeviceUnavailableException>(() =>
            OnnxSession.Create(TestModels.MatMulAdd(), new SessionSettings { Device = Device.Parse("cuda:0") }));
        Assert.Equal(Device.Cuda(0), e.Device);
        Assert.Equal("cuda:0: ONNX Runtime's CUDA execution provider cannot be used: libcuda.so.1 (the NVIDIA driver's CUDA library) " +
                     "could not be loaded. " + Advice, e.Message);
        Assert.Null(e.InnerException); // found before ONNX Runtime tried (its own error would only say "Failed to load shared library")
    }

    [Fact]
    public void Libraries_are_checked_driver_first_then_cuda_13_then_cudnn_9()
    {
        Assert.Equal(["libcuda.so.1", "libcudart.so.13", "libcublasLt.so.13", "libcublas.so.13", "libcurand.so.10", "libcudnn.so.9"],
            CudaSupport.Libraries.Select(l => l.File));
        // A host with the driver and CUDA 13 but no cuDNN: cuDNN is named.
        string? problem = CudaSupport.FindProblem(AppContext.BaseDirectory, file => file != "libcudnn.so.9");
        Assert.Equal("ONNX Runtime's CUDA execution provider cannot be used: libcudnn.so.9 (cuDNN 9) could not be loaded. " + Advice, problem);
        // cuBLASLt is checked before cuBLAS, which needs it: the message names the library that is really missing.
        Assert.StartsWith("ONNX Runtime's CUDA execution provider cannot be used: libcublasLt.so.13 (cuBLASLt from CUDA 13)",
            CudaSupport.FindProblem(AppContext.BaseDirectory, file => !file.StartsWith("libcublas", StringComparison.Ordinal)));
    }

    [Fact]
    public void With_every_library_present_a_build_without_the_provider_says_where_it_comes_from()
    {
        string dir = AppContext.BaseDirectory.TrimEnd('/');
        Assert.Equal($"ONNX Runtime's CUDA execution provider is not part of this build: libonnxruntime_providers_cuda.so is not in {dir}. " +
                     "The sd3mesh app ships it (its build and `dotnet publish src/Sd3Mesh.Cli -c Release -r linux-x64`); test builds leave it out. " +
                     "Or copy it there from the Microsoft.ML.OnnxRuntime.Gpu.Linux 1.32.0 package (runtimes/linux-x64/native/).",
            CudaSupport.FindProblem(dir, _ => true));
    }

    [Fact]
    public void The_driver_query_reports_why_it_sees_no_gpu()
    {
        var (devices, _, problem) = CudaDriver.Query();
        Assert.Empty(devices);
        Assert.Equal("libcuda.so.1 (the NVIDIA driver's CUDA library) could not be loaded: no NVIDIA driver on this machine, or it is not on the loader's path", problem);
        Assert.Equal("13.0", CudaDriver.VersionText(13000));
        Assert.Equal("12.8", CudaDriver.VersionText(12080));
    }

    [Fact]
    public void Cuda_settings_are_refused_on_other_devices_and_derived_keys_come_from_properties()
    {
        var settings = new SessionSettings();
        settings.ProviderOptions["gpu_mem_limit"] = "1024";
        var e = Assert.Throws<ArgumentException>(() => OnnxSession.Create(TestModels.MatMulAdd(), settings));
        Assert.StartsWith("ProviderOptions are CUDA provider options, but the device is cpu:0", e.Message);

        settings = new SessionSettings { Device = Device.Cuda(0) };
        settings.ProviderOptions["use_tf32"] = "1";
        e = Assert.Throws<ArgumentException>(() => OnnxSession.Create(TestModels.MatMulAdd(), settings));
        Assert.StartsWith("provider option 'use_tf32' is set by Device, Tf32 and CudaGraph, not by ProviderOptions", e.Message);
    }

    [Fact]
    public void Tf32_and_cuda_graph_settings_leave_cpu_sessions_exact()
    {
        // TF32 is a CUDA math mode: on the CPU the float32 result is the same with or without it.
        using var plain = OnnxSession.Create(TestModels.MatMulAdd());
        using var tf32 = OnnxSession.Create(TestModels.MatMulAdd(), new SessionSettings { Tf32 = true });
        var input = new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(TestModels.Floats(8), 2, 4) };
        Assert.Equal(plain.Run(input)["y"].ToArray<float>(), tf32.Run(input)["y"].ToArray<float>());
        Assert.True(tf32.Settings.Tf32);
    }

    [Fact]
    public void Self_checks_say_which_math_ran_and_use_its_tolerance()
    {
        var matMul = SelfChecks.Cases(DType.Float32).Single(c => c.Name == "MatMul+Add");
        var softmax = SelfChecks.Cases(DType.Float32).Single(c => c.Name == "Softmax");
        var half = SelfChecks.Cases(DType.Float16).Single(c => c.Name == "MatMul+Add");
        Assert.Equal("tf32", SelfChecks.MathOf(matMul, Device.Cuda(0), tf32: true));
        Assert.Equal("float32", SelfChecks.MathOf(matMul, Device.Cuda(0), tf32: false));
        Assert.Equal("float32", SelfChecks.MathOf(softmax, Device.Cuda(0), tf32: true)); // TF32 touches MatMul and Conv only
        Assert.Equal("float32", SelfChecks.MathOf(matMul, Device.Cpu, tf32: true)); // and only on CUDA
        Assert.Equal("float16", SelfChecks.MathOf(half, Device.Cuda(0), tf32: true));

        var result = SelfChecks.Run(Device.Cuda(0), matMul, tf32: true); // no CUDA here: a failed check that says why
        Assert.False(result.Passed);
        Assert.Equal(("tf32", SelfChecks.Tf32Tolerance), (result.Math, result.Tolerance));
        Assert.StartsWith("cuda:0: ONNX Runtime's CUDA execution provider cannot be used: libcuda.so.1", result.Error);
    }
}
