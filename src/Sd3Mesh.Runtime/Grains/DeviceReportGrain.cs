using Sd3Mesh.Onnx;
using Sd3Mesh.Runtime.Devices;
using Sd3Mesh.Runtime.Placement;

namespace Sd3Mesh.Runtime.Grains;

/// <summary>A device as its silo sees it: memory (total, in use), the budget, what the budget holds, evictions.</summary>
[GenerateSerializer, Immutable]
public sealed record DeviceReport(
    [property: Id(0)] string Device,
    [property: Id(1)] string Silo,
    [property: Id(2)] string Description,
    [property: Id(3)] long TotalBytes,
    [property: Id(4)] long UsedBytes,
    [property: Id(5)] long BudgetBytes,
    [property: Id(6)] long LoadedWeightBytes,
    [property: Id(7)] int Evictions,
    [property: Id(8)] string[] Residents);

/// <summary>Answers for one device (key devices@DEVICE), on the silo that owns it.</summary>
public interface IDeviceReportGrain : IGrainWithStringKey
{
    [Orleans.Concurrency.AlwaysInterleave]
    Task<DeviceReport> Report();

    /// <summary>The reports of the submodule grains on the device, without calling them (see <see cref="GrainReports"/>).</summary>
    [Orleans.Concurrency.AlwaysInterleave]
    Task<GrainReport[]> Grains();

    public static string KeyOf(Device device) => new DeviceKey("devices", device).ToString();
}

[DevicePlacement]
public sealed class DeviceReportGrain(DeviceMemories memories, Config.SiloSpec silo, GrainReports grains) : Grain, IDeviceReportGrain
{
    public Task<GrainReport[]> Grains() => Task.FromResult(grains.On(DeviceKey.Parse(this.GetPrimaryKeyString()).Device));

    public Task<DeviceReport> Report()
    {
        var device = DeviceKey.Parse(this.GetPrimaryKeyString()).Device;
        var memory = memories.For(device);
        var local = silo.Local(device);
        var (description, total, used) = Describe(local);
        if (local != device) description += $" (this host's {local})";
        return Task.FromResult(new DeviceReport(device.ToString(), silo.Name, description, total, used, memory.Budget ?? 0, memory.Used,
            memory.Evictions, [.. memory.Residents]));
    }

    /// <summary>A GPU as the driver reports it (in use: not known without NVML, 0); the CPU as the process sees it (its working set in use).</summary>
    private static (string Description, long Total, long Used) Describe(Device device)
    {
        if (device.IsCuda)
            return CudaDriver.Query().Devices.FirstOrDefault(d => d.Index == device.Index) is { } gpu
                ? ($"{gpu.Name} (compute {gpu.ComputeMajor}.{gpu.ComputeMinor})", gpu.TotalMemoryBytes, 0)
                : ("CUDA device not found by the driver", 0, 0);
        return ($"{Environment.ProcessorCount} logical cores", GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, Environment.WorkingSet);
    }
}
