using System.Runtime.InteropServices;
using Sd3Mesh.Onnx.Native;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Tests.Runtime;

/// <summary>
/// A wrong OrtApi index calls the wrong function (silent memory corruption at best), so entries are
/// checked by what they do: each test calls a few entries and checks a result only the right function
/// could give. Together they cover the start (0-2), the middle (42-78, 93, 125, 165, 194, 225, 254), the
/// 1.22 EP-device block (298-316) and the 1.23 additions counted from the 1.30 header (318, 373).
/// </summary>
public sealed unsafe class OrtApiTableTests : IDisposable
{
    private readonly OrtEnvironment _env = OrtEnvironment.Create();
    public void Dispose() => _env.Dispose();

    [Fact]
    public void Version_string_comes_from_OrtApiBase() => Assert.Equal("1.30.0", OrtLibrary.Shared.Version);

    [Fact]
    public void CreateStatus_GetErrorCode_GetErrorMessage_ReleaseStatus_are_entries_0_1_2_93()
    {
        nint status;
        fixed (byte* msg = "checked by behaviour\0"u8)
            status = OrtApi.CreateStatus((int)OrtErrorCode.NoSuchFile, msg);
        var e = OrtStatus.ToException(status); // reads code and message, then releases
        Assert.Equal(OrtErrorCode.NoSuchFile, e.Code);
        Assert.Equal("checked by behaviour", e.Message);
    }

    [Fact]
    public void GetBuildInfoString_254_and_GetAvailableProviders_125()
    {
        Assert.StartsWith("ORT Build Info: git-branch=", Marshal.PtrToStringUTF8((nint)OrtApi.GetBuildInfoString()));
        Assert.Equal("CPUExecutionProvider", OrtLibrary.Shared.AvailableProviders[^1]);
    }

    [Fact]
    public void Run_tag_42_45_and_run_config_entries_165_373_round_trip()
    {
        using var options = new RunOptions { LogTag = "step-7" };
        Assert.Equal("step-7", options.LogTag);
        Assert.Null(options.GetConfigEntry("sd3mesh.test"));
        options.AddConfigEntry("sd3mesh.test", "value-1");
        Assert.Equal("value-1", options.GetConfigEntry("sd3mesh.test"));
    }

    [Fact]
    public void Tensor_entries_48_49_51_65_and_size_in_bytes_318()
    {
        using var allocated = OrtValue.Allocate(DType.Float16, new TensorShape(3, 5)); // CreateTensorAsOrtValue
        Assert.Equal(30, allocated.SizeInBytes);                                          // GetTensorSizeInBytes
        var data = new long[] { 1, -2, 3, -4, 5, -6 };
        using var value = OrtValue.FromTensor(Tensor.FromArray(data, 2, 3));              // CreateTensorWithDataAsOrtValue
        Assert.Equal(48, value.SizeInBytes);
        Assert.Equal(data, value.GetSpan<long>().ToArray());                              // GetTensorMutableData
        nint info;
        OrtStatus.Check(OrtApi.GetTensorTypeAndShape(value.Handle.DangerousGetHandle(), &info)); // 65
        using var infoHandle = new TensorTypeAndShapeInfoHandle(info);
        var (dtype, dims) = TypeAndShape.Read(info);                                      // 60, 61, 62
        Assert.Equal(DType.Int64, dtype);
        Assert.Equal([2L, 3L], dims);
    }

    [Fact]
    public void Memory_info_entries_68_71_72_225_describe_cpu_and_device_memory()
    {
        Assert.Equal("cpu", MemoryInfos.Describe(MemoryInfos.Cpu.DangerousGetHandle(), out bool cpuIsCpu));
        Assert.True(cpuIsCpu);
        Assert.Equal("WebGPU_Buf:0", MemoryInfos.Describe(MemoryInfos.For(Device.Parse("webgpu:0")).DangerousGetHandle(), out bool gpuIsCpu));
        Assert.False(gpuIsCpu);
        Assert.Equal("Cuda:1", MemoryInfos.Describe(MemoryInfos.For(Device.Parse("cuda:1")).DangerousGetHandle(), out _));
    }

    private static readonly IEqualityComparer<EpDeviceInfo> EpDeviceComparer = EqualityComparer<EpDeviceInfo>.Create(
        (a, b) => a!.EpName == b!.EpName && a.DeviceType == b.DeviceType && a.VendorId == b.VendorId && a.DeviceId == b.DeviceId);

    [Fact]
    public void GetEpDevices_303_and_its_accessors_307_to_316_describe_the_cpu()
    {
        var cpu = Assert.Single(_env.EpDevices, d => d.EpName == "CPUExecutionProvider");
        Assert.Equal(cpu, Assert.Single(OrtLibrary.Shared.EpDevices, d => d.EpName == "CPUExecutionProvider"), EpDeviceComparer);
        Assert.Equal("Microsoft", cpu.EpVendor);
        Assert.Equal("CPU", cpu.DeviceType);
        Assert.False(string.IsNullOrEmpty(cpu.Vendor));
    }
}
