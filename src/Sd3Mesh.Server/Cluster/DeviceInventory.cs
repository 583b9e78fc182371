using System.Runtime.InteropServices;
using Sd3Mesh.Protos.V1;

namespace Sd3Mesh.Server.Cluster;

/// <summary>The devices a silo can place submodules on.</summary>
public interface IDeviceInventory
{
    IReadOnlyList<Device> Devices(string siloId);
}

/// <summary>
/// The host CPU as the device "cpu": memory is what the process may use (the GC's view, which honours
/// container limits), used is the process's working set, budget is configurable (default: all of it).
/// GPU devices join when the ONNX Runtime binding reports them.
/// </summary>
public sealed class CpuDeviceInventory(ulong? budgetBytes = null) : IDeviceInventory
{
    private static readonly string Description = DescribeCpu();

    public IReadOnlyList<Device> Devices(string siloId)
    {
        ulong total = (ulong)GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        return
        [
            new Device
            {
                Name = "cpu",
                Kind = "cpu",
                SiloId = siloId,
                Description = Description,
                MemoryTotalBytes = total,
                MemoryUsedBytes = (ulong)Environment.WorkingSet,
                MemoryBudgetBytes = Math.Min(budgetBytes ?? total, total),
            },
        ];
    }

    private static string DescribeCpu()
    {
        string model = RuntimeInformation.ProcessArchitecture.ToString();
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))
                    ?.Split(':', 2)[1].Trim() ?? model;
        }
        catch (IOException) { }
        return $"{model}, {Environment.ProcessorCount} logical cores";
    }
}

/// <summary>Device names as the Cluster API writes them: "cpu" for the first CPU, else kind:N ("cuda:0").</summary>
public static class DeviceNames
{
    public static string Of(Onnx.Device device) => device.IsCpu && device.Index == 0 ? "cpu" : device.ToString();
}
