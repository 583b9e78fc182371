using System.Collections.Concurrent;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx;

/// <summary>
/// Copies device values to CPU memory with ONNX Runtime's own machinery: an Identity model per (device,
/// element type, rank), run on the value's device with the output written into the caller's pinned
/// buffer (ONNX Runtime copies a device output into a CPU-bound output value). Sessions are made on first
/// use and kept for the process, with their own environment reference.
/// </summary>
internal static class DeviceDownloads
{
    private static readonly ConcurrentDictionary<(Device, DType, int), Lazy<InferenceSession>> s_sessions = new();
    private static readonly Lazy<OrtEnvironment> s_environment = new(() => OrtEnvironment.Create());

    public static void CopyToCpu(OrtValue value, Device device, Tensor destination)
    {
        var session = s_sessions.GetOrAdd((device, value.DType, value.Shape.Rank),
            key => new Lazy<InferenceSession>(() => CreateIdentity(key.Item1, key.Item2, key.Item3))).Value;
        using var output = OrtValue.FromTensor(destination);
        session.RunInto(["x"], [value], ["y"], [output]);
    }

    internal static InferenceSession CreateIdentity(Device device, DType dtype, int rank)
    {
        var g = new GraphBuilder("download");
        var dims = Enumerable.Range(0, rank).Select(i => (Dim)$"d{i}").ToArray();
        g.Output(g.Op("Identity", [g.Input("x", dtype, dims)]), "y", dtype, dims);
        return InferenceSession.Create(s_environment.Value, g.Build().ToBytes(), new SessionOptions { Device = device });
    }
}
