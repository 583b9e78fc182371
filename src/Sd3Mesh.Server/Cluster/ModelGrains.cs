using Google.Protobuf.WellKnownTypes;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Protos.V1;

namespace Sd3Mesh.Server.Cluster;

/// <summary>
/// The submodules of a single-process model as this silo's grains: one per ONNX session, on the model's
/// device, ACTIVE once its session is loaded (sessions are created on first use), with ONNX Runtime call
/// counts and mean Run latency. The grain runtime replaces this with real grains.
/// </summary>
public sealed class ModelGrains(OnnxSd3Model model, Onnx.Device device) : IGrainDirectory
{
    public IReadOnlyList<Grain> Grains(string siloId) => model.Submodules.Select(s =>
    {
        int calls = model.Clock.Calls(s.Name);
        var grain = new Grain
        {
            Submodule = s.Name,
            SiloId = siloId,
            Device = DeviceNames.Of(device),
            State = s.IsLoaded ? GrainState.Active : GrainState.Inactive,
            Calls = (ulong)calls,
            MeanLatencyMs = calls == 0 ? 0 : model.Clock.Run(s.Name).TotalMilliseconds / calls,
        };
        if (model.Clock.LastRun(s.Name) is { } last) grain.LastUsed = Timestamp.FromDateTime(last);
        return grain;
    }).ToList();
}
