using System.Globalization;

namespace Sd3Mesh.Onnx;

public enum DeviceKind
{
    /// <summary>ONNX Runtime's CPU execution provider.</summary>
    Cpu,
    /// <summary>ONNX Runtime's CUDA execution provider (device_id = the index).</summary>
    Cuda,
}

/// <summary>
/// Where a session runs, written as a device string: <c>cpu</c> or <c>cpu:N</c>, <c>cuda:N</c>. Logical CPU
/// devices (<c>cpu:1</c>, <c>cpu:2</c>, ...) all use the CPU execution provider; they stand in for GPUs in tests
/// (each has its own <see cref="DeviceQueue"/>, so work on two of them overlaps). <c>cuda:N</c> is the CUDA
/// execution provider on GPU N; several GPUs are addressable from one process. A bare kind (<c>cpu</c>,
/// <c>cuda</c>) means index 0. <see cref="ToString"/> always writes <c>kind:N</c>, which <see cref="Parse"/> reads back.
/// </summary>
public readonly record struct Device(DeviceKind Kind, int Index)
{
    public const string AcceptedForms = "cpu, cpu:N or cuda:N (N = 0, 1, 2, ...)";

    public static Device Cpu => new(DeviceKind.Cpu, 0);

    public static Device Cuda(int index) => new(DeviceKind.Cuda, index);

    public bool IsCpu => Kind == DeviceKind.Cpu;

    public bool IsCuda => Kind == DeviceKind.Cuda;

    /// <summary>Reads a device string; a bad one throws <see cref="FormatException"/> naming it and the accepted forms.</summary>
    public static Device Parse(string text) =>
        TryParse(text, out var device)
            ? device
            : throw new FormatException($"unknown device '{text}': expected {AcceptedForms}");

    public static bool TryParse(string? text, out Device device)
    {
        device = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        string s = text.Trim().ToLowerInvariant();
        int colon = s.IndexOf(':');
        string kindText = colon < 0 ? s : s[..colon];
        int index = 0;
        if (colon >= 0 && !int.TryParse(s.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out index))
            return false;
        DeviceKind? kind = kindText switch
        {
            "cpu" => DeviceKind.Cpu,
            "cuda" => DeviceKind.Cuda,
            _ => null,
        };
        if (kind is null) return false;
        device = new Device(kind.Value, index);
        return true;
    }

    public override string ToString() => Kind switch
    {
        DeviceKind.Cpu => $"cpu:{Index}",
        DeviceKind.Cuda => $"cuda:{Index}",
        _ => $"{Kind}:{Index}",
    };
}
