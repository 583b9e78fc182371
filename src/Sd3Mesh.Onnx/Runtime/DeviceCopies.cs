using System.Collections.Concurrent;
using Microsoft.ML.OnnxRuntime;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx;

/// <summary>
/// Copies between host memory and a device's memory with ONNX Runtime's own machinery: an Identity model per
/// (device, element type, rank) run on the device, with the input or the output bound to CPU memory (ONNX Runtime
/// inserts the copy). Works the same on every execution provider; on CPU devices it is a plain copy. Sessions are
/// made on first use and kept for the process.
/// </summary>
public static class DeviceCopies
{
    private static readonly ConcurrentDictionary<(Device, DType, int), Lazy<OnnxSession>> s_sessions = new();

    /// <summary>A copy of <paramref name="value"/> (in <paramref name="device"/>'s memory or CPU memory) in a new managed tensor.</summary>
    public static Tensor ToHost(OrtValue value, Device device)
    {
        if (device.IsCpu || TensorValues.IsOnCpu(value)) return TensorValues.ToTensor(value);
        var destination = Tensor.Zeros(TensorValues.DTypeOf(value), TensorValues.ShapeOf(value));
        using var output = PinnedTensorValue.Wrap(destination);
        using var binding = Identity(device, destination.DType, destination.Shape.Rank).CreateBinding();
        binding.BindInput("x", value);
        binding.BindOutput("y", output.Value);
        binding.Session.Run(binding);
        return destination;
    }

    /// <summary>A new value in <paramref name="device"/>'s memory holding a copy of <paramref name="tensor"/>; the caller disposes it.</summary>
    public static OrtValue ToDevice(Tensor tensor, Device device)
    {
        if (device.IsCpu) return TensorValues.CopyToCpuValue(tensor);
        using var binding = Identity(device, tensor.DType, tensor.Shape.Rank).CreateBinding();
        binding.BindInput("x", tensor);
        binding.BindOutput("y", device);
        binding.Session.Run(binding);
        return binding.GetOutputs()["y"];
    }

    /// <summary>Copies <paramref name="tensor"/> into <paramref name="destination"/>, a value of the same type and shape in <paramref name="device"/>'s memory.</summary>
    public static void CopyInto(Tensor tensor, OrtValue destination, Device device)
    {
        using var binding = Identity(device, tensor.DType, tensor.Shape.Rank).CreateBinding();
        binding.BindInput("x", tensor);
        binding.BindOutput("y", destination);
        binding.Session.Run(binding);
    }

    private static OnnxSession Identity(Device device, DType dtype, int rank) =>
        s_sessions.GetOrAdd((device, dtype, rank), key => new Lazy<OnnxSession>(() => CreateIdentity(key.Item1, key.Item2, key.Item3))).Value;

    private static OnnxSession CreateIdentity(Device device, DType dtype, int rank)
    {
        var g = new GraphBuilder("device_copy");
        var dims = Enumerable.Range(0, rank).Select(i => (Dim)$"d{i}").ToArray();
        g.Output(g.Op("Identity", [g.Input("x", dtype, dims)]), "y", dtype, dims);
        return OnnxSession.Create(g.Build().ToBytes(), new SessionSettings { Device = device, LogId = $"copy:{device}" });
    }
}
