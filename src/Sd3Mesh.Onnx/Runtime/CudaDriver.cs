using System.Runtime.InteropServices;
using System.Text;

namespace Sd3Mesh.Onnx;

/// <summary>A GPU as the NVIDIA driver reports it.</summary>
public sealed record CudaDeviceInfo(int Index, string Name, long TotalMemoryBytes, int ComputeMajor, int ComputeMinor)
{
    public Device Device => Device.Cuda(Index);
}

/// <summary>
/// The GPUs the NVIDIA driver sees, through the CUDA driver API in libcuda.so.1 (cuInit, cuDeviceGetCount,
/// cuDeviceGetName, cuDeviceTotalMem, compute capability). The driver API needs only the driver, not the CUDA
/// toolkit, so it answers even where CUDA 13 or cuDNN are missing. Functions are looked up at run time:
/// without the driver, <see cref="Query"/> says so instead of failing.
/// </summary>
public static unsafe class CudaDriver
{
    public const string Library = "libcuda.so.1";

    private const int ComputeCapabilityMajor = 75, ComputeCapabilityMinor = 76; // CU_DEVICE_ATTRIBUTE_*

    private static readonly Lazy<(IReadOnlyList<CudaDeviceInfo> Devices, int DriverVersion, string? Problem)> s_query = new(Load);

    /// <summary>The devices, the driver's CUDA version (e.g. 13000 for 13.0; 0 when unknown) and, when it cannot answer, why.</summary>
    public static (IReadOnlyList<CudaDeviceInfo> Devices, int DriverVersion, string? Problem) Query() => s_query.Value;

    /// <summary>"13.0" from 13000.</summary>
    public static string VersionText(int version) => version <= 0 ? "unknown" : $"{version / 1000}.{version % 1000 / 10}";

    private static (IReadOnlyList<CudaDeviceInfo>, int, string?) Load()
    {
        if (!NativeLibrary.TryLoad(Library, out nint lib))
            return ([], 0, $"{Library} (the NVIDIA driver's CUDA library) could not be loaded: no NVIDIA driver on this machine, or it is not on the loader's path");
        try
        {
            var init = (delegate* unmanaged<uint, int>)NativeLibrary.GetExport(lib, "cuInit");
            var getCount = (delegate* unmanaged<int*, int>)NativeLibrary.GetExport(lib, "cuDeviceGetCount");
            var get = (delegate* unmanaged<int*, int, int>)NativeLibrary.GetExport(lib, "cuDeviceGet");
            var getName = (delegate* unmanaged<byte*, int, int, int>)NativeLibrary.GetExport(lib, "cuDeviceGetName");
            var totalMem = (delegate* unmanaged<nuint*, int, int>)NativeLibrary.GetExport(lib, "cuDeviceTotalMem_v2");
            var getAttribute = (delegate* unmanaged<int*, int, int, int>)NativeLibrary.GetExport(lib, "cuDeviceGetAttribute");
            var driverVersion = (delegate* unmanaged<int*, int>)NativeLibrary.GetExport(lib, "cuDriverGetVersion");

            int version = 0;
            _ = driverVersion(&version);
            int status = init(0);
            if (status != 0) return ([], version, $"the NVIDIA driver could not start CUDA (cuInit returned {ErrorName(lib, status)})");
            int count = 0;
            status = getCount(&count);
            if (status != 0) return ([], version, $"cuDeviceGetCount returned {ErrorName(lib, status)}");

            var devices = new List<CudaDeviceInfo>(count);
            var name = stackalloc byte[256];
            for (int i = 0; i < count; i++)
            {
                int device, major = 0, minor = 0;
                nuint bytes = 0;
                if (get(&device, i) != 0) continue;
                new Span<byte>(name, 256).Clear();
                _ = getName(name, 256, device);
                _ = totalMem(&bytes, device);
                _ = getAttribute(&major, ComputeCapabilityMajor, device);
                _ = getAttribute(&minor, ComputeCapabilityMinor, device);
                devices.Add(new CudaDeviceInfo(i, Marshal.PtrToStringUTF8((nint)name) ?? "?", (long)bytes, major, minor));
            }
            return (devices, version, null);
        }
        catch (EntryPointNotFoundException e)
        {
            return ([], 0, $"{Library} lacks a CUDA driver function ({e.Message}): the driver is too old");
        }
    }

    private static string ErrorName(nint lib, int status)
    {
        if (NativeLibrary.TryGetExport(lib, "cuGetErrorName", out nint f))
        {
            byte* text = null;
            if (((delegate* unmanaged<int, byte**, int>)f)(status, &text) == 0 && text != null)
                return $"{Encoding.UTF8.GetString(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(text))} ({status})";
        }
        return status.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}
