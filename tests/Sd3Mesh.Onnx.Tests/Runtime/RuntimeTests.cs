using Microsoft.ML.OnnxRuntime;

namespace Sd3Mesh.Onnx.Tests.Runtime;

/// <summary>The ONNX Runtime that the package restore brings, and what a test build carries of it.</summary>
public sealed class RuntimeTests
{
    [Fact]
    public void The_restored_library_is_ONNX_Runtime_1_32_0_with_cpu_and_cuda_providers()
    {
        Assert.Equal(OrtRuntime.ExpectedVersion, OrtRuntime.Version);
        Assert.Equal("1.32.0", OrtRuntime.Version);
        Assert.Contains("CPUExecutionProvider", OrtRuntime.Providers);
        Assert.Contains("CUDAExecutionProvider", OrtRuntime.Providers); // built in, whether or not CUDA is here
        Assert.Contains(OrtRuntime.Env.GetEpDevices(), d => d.EpName == "CPUExecutionProvider" && d.HardwareDevice.Type == OrtHardwareDeviceType.CPU);
    }

    [Fact]
    public void The_native_library_loads_from_beside_the_app_and_the_cuda_provider_stays_out_of_test_builds()
    {
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, "libonnxruntime.so"), OrtRuntime.LibraryPath);
        Assert.Equal(AppContext.BaseDirectory.TrimEnd('/'), OrtRuntime.LibraryDirectory);
        Assert.True(File.Exists(Path.Combine(AppContext.BaseDirectory, CudaSupport.SharedProviderLibrary)));
        // 289 MB that no test needs: only the app ships it (src/Sd3Mesh.Onnx/build/OnnxRuntimeCuda.targets).
        Assert.False(File.Exists(Path.Combine(AppContext.BaseDirectory, CudaSupport.ProviderLibrary)));
        Assert.False(File.Exists(Path.Combine(AppContext.BaseDirectory, "libonnxruntime_providers_tensorrt.so")));
        Assert.False(Directory.Exists(Path.Combine(AppContext.BaseDirectory, "runtimes")));
    }
}
