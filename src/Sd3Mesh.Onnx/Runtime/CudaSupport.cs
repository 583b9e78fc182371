using System.Runtime.InteropServices;

namespace Sd3Mesh.Onnx;

/// <summary>
/// Whether ONNX Runtime's CUDA execution provider can run here, checked before ONNX Runtime tries (its own
/// failure says only "Failed to load shared library", the missing file's name going to its log). The provider
/// (libonnxruntime_providers_cuda.so beside libonnxruntime.so) links CUDA 13's runtime, cuBLAS(Lt) and cuRAND
/// and the driver's libcuda.so.1 (verified with ldd on ORT 1.32.0's provider), and loads cuDNN 9 at run time
/// (without it sessions load but attention fails when run). Each library is loaded here, in that order, then the
/// provider files are looked for; the first that fails is named with what to do.
/// </summary>
public static class CudaSupport
{
    /// <summary>What ORT 1.32's CUDA provider loads: file, and what it is.</summary>
    public static readonly IReadOnlyList<(string File, string What)> Libraries =
    [
        (CudaDriver.Library, "the NVIDIA driver's CUDA library"),
        ("libcudart.so.13", "the CUDA 13 runtime"),
        ("libcublasLt.so.13", "cuBLASLt from CUDA 13"),
        ("libcublas.so.13", "cuBLAS from CUDA 13"),
        ("libcurand.so.10", "cuRAND from CUDA 13"),
        ("libcudnn.so.9", "cuDNN 9"),
    ];

    public const string ProviderLibrary = "libonnxruntime_providers_cuda.so";
    public const string SharedProviderLibrary = "libonnxruntime_providers_shared.so";

    private static readonly Lazy<string?> s_problem = new(() => FindProblem(OrtRuntime.LibraryDirectory, file => NativeLibrary.TryLoad(file, out _)));

    /// <summary>Why the CUDA provider cannot be used in this process (whatever the device index), or null when it can.</summary>
    public static string? Problem => s_problem.Value;

    /// <summary>Throws <see cref="DeviceUnavailableException"/> saying why <paramref name="device"/> cannot be used, if it cannot.</summary>
    public static void EnsureUsable(Device device)
    {
        if (!device.IsCuda) return;
        if (Problem is { } problem) throw new DeviceUnavailableException(device, $"{device}: {problem}");
        var (devices, _, driverProblem) = CudaDriver.Query();
        if (driverProblem is not null)
            throw new DeviceUnavailableException(device, $"{device}: {driverProblem}");
        if (device.Index >= devices.Count)
            throw new DeviceUnavailableException(device, devices.Count == 0
                ? $"{device}: the NVIDIA driver sees no CUDA device on this machine"
                : $"{device}: this machine has {devices.Count} CUDA device{(devices.Count == 1 ? "" : "s")} " +
                  $"({string.Join(", ", devices.Select(d => d.Device))}); pick one of them");
    }

    /// <summary>
    /// The first reason the provider cannot load: a library the loader cannot load (<paramref name="tryLoad"/>), in
    /// <see cref="Libraries"/>' order, then the provider files missing from <paramref name="ortDirectory"/>.
    /// </summary>
    internal static string? FindProblem(string ortDirectory, Func<string, bool> tryLoad)
    {
        foreach (var (file, what) in Libraries)
            if (!tryLoad(file))
                return MissingLibraryMessage(file, what);
        foreach (var provider in new[] { SharedProviderLibrary, ProviderLibrary })
            if (!File.Exists(Path.Combine(ortDirectory, provider)))
                return $"ONNX Runtime's CUDA execution provider is not part of this build: {provider} is not in {ortDirectory}. " +
                       "The sd3mesh app ships it (its build and `dotnet publish src/Sd3Mesh.Cli -c Release -r linux-x64`); " +
                       "test builds leave it out. Or copy it there from the Microsoft.ML.OnnxRuntime.Gpu.Linux " +
                       $"{OrtRuntime.ExpectedVersion} package (runtimes/linux-x64/native/).";
        return null;
    }

    /// <summary>The advice for a library that the loader cannot find or load.</summary>
    public static string MissingLibraryMessage(string file, string what) =>
        $"ONNX Runtime's CUDA execution provider cannot be used: {file} ({what}) could not be loaded. " +
        $"ONNX Runtime {OrtRuntime.ExpectedVersion[..OrtRuntime.ExpectedVersion.LastIndexOf('.')]}'s CUDA provider needs CUDA 13 " +
        "(libcudart.so.13, libcublasLt.so.13, libcublas.so.13, libcurand.so.10), cuDNN 9 (libcudnn.so.9) and the NVIDIA " +
        "driver (libcuda.so.1). Install them, or point the loader at the folders that hold them, e.g. " +
        "`export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/path/to/cudnn/lib:$LD_LIBRARY_PATH`; then `sd3mesh doctor` shows what it finds.";
}
