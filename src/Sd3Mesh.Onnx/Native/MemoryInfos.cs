using System.Collections.Concurrent;

namespace Sd3Mesh.Onnx.Native;

/// <summary>
/// OrtMemoryInfo objects describing where tensor memory lives, created once per place and kept for the
/// process: CPU memory, and each device's default memory (the names are ONNX Runtime's allocator names).
/// </summary>
internal static unsafe class MemoryInfos
{
    private const int OrtDeviceAllocator = 0;
    private const int OrtMemTypeDefault = 0;
    private static readonly ConcurrentDictionary<Device, MemoryInfoHandle> s_byDevice = new();

    public static readonly MemoryInfoHandle Cpu = CreateCpu();

    /// <summary>
    /// ONNX Runtime's allocator name for a device's memory ("Cpu", "WebGPU_Buf", "Cuda"). ORT 1.30 names WebGPU
    /// memory "WebGPU_Buf" (it still accepts the older "WebGPU_Buffer" and reports it as "WebGPU_Buf").
    /// </summary>
    public static string AllocatorName(Device device) => device.Kind switch
    {
        DeviceKind.Cpu => "Cpu",
        DeviceKind.WebGpu => "WebGPU_Buf",
        DeviceKind.Cuda => "Cuda",
        _ => throw new ArgumentOutOfRangeException(nameof(device), device, null),
    };

    /// <summary>The device whose memory an ONNX Runtime allocator name and id denote, if it is one we place sessions on.</summary>
    public static Device? DeviceOf(string allocatorName, int id) => allocatorName switch
    {
        "Cpu" => Device.Cpu,
        "WebGPU_Buf" or "WebGPU_Buffer" => new Device(DeviceKind.WebGpu, 0),
        "Cuda" => new Device(DeviceKind.Cuda, id),
        _ => null,
    };

    public static MemoryInfoHandle For(Device device) =>
        device.IsCpu ? Cpu : s_byDevice.GetOrAdd(device, static d =>
        {
            nint info;
            // WebGPU's allocator id is always 0: one GPU per process (see ExecutionProviders.CheckSelectable).
            int id = d.Kind == DeviceKind.WebGpu ? 0 : d.Index;
            using var name = new Utf8(AllocatorName(d));
            OrtStatus.Check(OrtApi.CreateMemoryInfo(name.Pointer, OrtDeviceAllocator, id, OrtMemTypeDefault, &info));
            return new MemoryInfoHandle(info);
        });

    private static MemoryInfoHandle CreateCpu()
    {
        nint info;
        OrtStatus.Check(OrtApi.CreateCpuMemoryInfo(OrtDeviceAllocator, OrtMemTypeDefault, &info));
        return new MemoryInfoHandle(info);
    }

    /// <summary>"cpu" for CPU-accessible memory, else ONNX Runtime's name and device id, e.g. "WebGPU_Buf:0".</summary>
    public static string Describe(nint memoryInfo, out bool isCpu) => Describe(memoryInfo, out isCpu, out _);

    public static string Describe(nint memoryInfo, out bool isCpu, out Device? device)
    {
        int deviceType;
        OrtApi.MemoryInfoGetDeviceType(memoryInfo, &deviceType);
        isCpu = deviceType == 0;
        byte* name;
        int id;
        OrtStatus.Check(OrtApi.MemoryInfoGetName(memoryInfo, &name));
        OrtStatus.Check(OrtApi.MemoryInfoGetId(memoryInfo, &id));
        string allocator = Utf8.Read(name) ?? "";
        device = isCpu ? Device.Cpu : DeviceOf(allocator, id);
        return isCpu ? "cpu" : $"{allocator}:{id}";
    }
}
