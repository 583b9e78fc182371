using Sd3Mesh.Onnx;

namespace Sd3Mesh.Runtime.Placement;

/// <summary>
/// The key of a grain that lives on a device: <c>name@device</c>, e.g. <c>tiny-fp32-seed0/transformer@cuda:0</c>
/// or <c>job/42@cuda:0</c>. Putting the device in the key is what lets any silo place the grain without
/// asking the cluster config (the placement director runs on whichever silo takes the first call), and what
/// lets two placements of the same submodule coexist.
/// </summary>
public readonly record struct DeviceKey(string Name, Device Device)
{
    public override string ToString() => $"{Name}@{Device}";

    public static DeviceKey Parse(string key)
    {
        int at = key.LastIndexOf('@');
        if (at <= 0 || at == key.Length - 1)
            throw new FormatException($"grain key '{key}' has no device: expected NAME@DEVICE, e.g. model/transformer@cuda:0");
        return new DeviceKey(key[..at], Device.Parse(key[(at + 1)..]));
    }
}
