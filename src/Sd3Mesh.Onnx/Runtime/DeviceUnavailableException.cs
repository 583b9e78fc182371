namespace Sd3Mesh.Onnx;

/// <summary>
/// A session cannot be placed on the requested device (its execution provider or a library that provider needs
/// is missing, or there is no such GPU). The message says why and what to do; <see cref="Exception.InnerException"/>
/// holds ONNX Runtime's own error where there is one. The CLI reports it as a usage error (exit code 2).
/// </summary>
public sealed class DeviceUnavailableException(Device device, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public Device Device { get; } = device;
}
