using Sd3Mesh.Onnx;

namespace Sd3Mesh.Runtime.Placement;

/// <summary>A grain could not be placed on its device; the message names the grain, the device and why.</summary>
[GenerateSerializer]
public sealed class DevicePlacementException : Exception
{
    public DevicePlacementException(string grain, Device device, string reason)
        : base($"cannot place {grain} on {device}: {reason}")
    {
        Grain = grain;
        DeviceName = device.ToString();
    }

    [Id(0)] public string Grain { get; } = "";
    [Id(1)] public string DeviceName { get; } = "";
}
