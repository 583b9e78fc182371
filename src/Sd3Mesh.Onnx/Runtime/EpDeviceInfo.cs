using Sd3Mesh.Onnx.Native;

namespace Sd3Mesh.Onnx;

/// <summary>
/// One (execution provider, hardware device) pair that ONNX Runtime offers (OrtEpDevice): the EP's name and
/// vendor, the device's type (CPU, GPU, NPU), vendor and ids, and their metadata.
/// </summary>
public sealed record EpDeviceInfo(
    string EpName,
    string EpVendor,
    string DeviceType,
    string Vendor,
    uint VendorId,
    uint DeviceId,
    IReadOnlyDictionary<string, string> DeviceMetadata,
    IReadOnlyDictionary<string, string> EpMetadata,
    IReadOnlyDictionary<string, string> EpOptions)
{
    internal static unsafe IReadOnlyList<EpDeviceInfo> List(OrtEnvironment environment)
    {
        environment.ThrowIfDisposed();
        bool added = false;
        environment.Native.DangerousAddRef(ref added);
        try
        {
            nint* devices;
            nuint count;
            OrtStatus.Check(OrtApi.GetEpDevices(environment.Native.DangerousGetHandle(), &devices, &count));
            var result = new List<EpDeviceInfo>((int)count);
            for (nuint i = 0; i < count; i++)
            {
                nint ep = devices[i]; // owned by ONNX Runtime
                nint hw = OrtApi.EpDevice_Device(ep);
                result.Add(new EpDeviceInfo(
                    Utf8.Read(OrtApi.EpDevice_EpName(ep)) ?? "",
                    Utf8.Read(OrtApi.EpDevice_EpVendor(ep)) ?? "",
                    OrtApi.HardwareDevice_Type(hw) switch { 0 => "CPU", 1 => "GPU", 2 => "NPU", var t => $"type {t}" },
                    Utf8.Read(OrtApi.HardwareDevice_Vendor(hw)) ?? "",
                    OrtApi.HardwareDevice_VendorId(hw),
                    OrtApi.HardwareDevice_DeviceId(hw),
                    ReadPairs(OrtApi.HardwareDevice_Metadata(hw)),
                    ReadPairs(OrtApi.EpDevice_EpMetadata(ep)),
                    ReadPairs(OrtApi.EpDevice_EpOptions(ep))));
            }
            return result;
        }
        finally
        {
            if (added) environment.Native.DangerousRelease();
        }
    }

    private static unsafe IReadOnlyDictionary<string, string> ReadPairs(nint pairs)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (pairs == 0) return result;
        byte** keys, values;
        nuint count;
        OrtApi.GetKeyValuePairs(pairs, &keys, &values, &count);
        for (nuint i = 0; i < count; i++)
            result[Utf8.Read(keys[i]) ?? ""] = Utf8.Read(values[i]) ?? "";
        return result;
    }
}
