using Sd3Mesh.Runtime.Placement;
using Sd3Mesh.Runtime.Tracing;

namespace Sd3Mesh.Runtime.Grains;

/// <summary>
/// Hands a job's spans recorded on one silo (tensor fetches inside its grains) to the job's coordinator at the job's
/// end. Keyed traces@DEVICE with any device the silo owns, so the device placement director puts it on that silo.
/// </summary>
public interface ISiloTraceGrain : IGrainWithStringKey
{
    [Orleans.Concurrency.AlwaysInterleave]
    Task<TraceSpan[]> Take(string jobId);

    public static string KeyOf(Onnx.Device device) => new DeviceKey("traces", device).ToString();
}

[DevicePlacement]
public sealed class SiloTraceGrain(JobTraces traces) : Grain, ISiloTraceGrain
{
    public Task<TraceSpan[]> Take(string jobId) => Task.FromResult(traces.Take(jobId));
}
