namespace Sd3Mesh.Onnx;

/// <summary>
/// A session cannot be placed on the requested device (its execution provider is missing or cannot
/// select that device). The message says why and what to do; <see cref="Exception.InnerException"/>
/// holds ONNX Runtime's own error where there is one.
/// </summary>
public sealed class DeviceUnavailableException(Device device, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public Device Device { get; } = device;
}
