using System.Diagnostics;
using System.Diagnostics.Metrics;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Devices;

namespace Sd3Mesh.Runtime.Metrics;

/// <summary>
/// The grain runtime's instruments on one silo (meter <see cref="MeterName"/>, from the host's IMeterFactory), recorded
/// where the numbers arise: a submodule grain times its calls, the coordinator its steps, the tensor exchange the bytes
/// it pulls from another silo; device memory is read from the silo's budgets when a collector asks. Every measurement
/// carries the silo's name, so a scrape of several silos (or of one process hosting several) stays apart.
/// </summary>
public sealed class RuntimeMetrics
{
    public const string MeterName = "Sd3Mesh.Runtime";

    /// <summary>Seconds, from a 1 ms text encoder call on a GPU to a minute-long CPU load.</summary>
    public static readonly IReadOnlyList<double> SecondsBuckets =
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

    private readonly Histogram<double> _grainCall;
    private readonly Histogram<double> _step;
    private readonly Counter<long> _transferBytes;
    private readonly Histogram<double> _transfer;

    public RuntimeMetrics(IMeterFactory factory, SiloSpec silo, DeviceMemories memories)
    {
        Silo = silo.Name;
        var meter = factory.Create(MeterName);
        var seconds = new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets };
        _grainCall = meter.CreateHistogram("sd3mesh.grain.call.duration", "s",
            "Calls of a submodule grain, timed in the grain (a load on demand included)", advice: seconds);
        _step = meter.CreateHistogram("sd3mesh.step.duration", "s",
            "Denoising steps as the job's coordinator times them (the transformer grain's call: velocity, guidance, Euler update)", advice: seconds);
        _transferBytes = meter.CreateCounter<long>("sd3mesh.transport.bytes", "By", "Tensor bytes pulled from another silo over the gRPC tensor transport");
        _transfer = meter.CreateHistogram("sd3mesh.transport.fetch.duration", "s", "Tensor fetches from another silo", advice: seconds);

        // This silo's devices, read when collected (nothing is recorded per call).
        IEnumerable<(DeviceMemory Memory, TagList Tags)> Devices() => silo.Devices.Select(d => (memories.For(d), DeviceTags(d)));
        meter.CreateObservableGauge("sd3mesh.device.memory.weights", () => Devices().Select(d => new Measurement<long>(d.Memory.Used, d.Tags)),
            "By", "Weights of the sessions loaded on the device (what its budget holds)");
        meter.CreateObservableGauge("sd3mesh.device.memory.budget",
            () => Devices().Where(d => d.Memory.Budget is not null).Select(d => new Measurement<long>(d.Memory.Budget!.Value, d.Tags)),
            "By", "The device's memory budget for weights (devices without a limit report none)");
        meter.CreateObservableCounter("sd3mesh.device.evictions", () => Devices().Select(d => new Measurement<int>(d.Memory.Evictions, d.Tags)),
            "{eviction}", "Sessions released to make room on the device");
    }

    public string Silo { get; }

    /// <summary>The tags of a grain's calls, made once per activation.</summary>
    public TagList GrainTags(string submodule, Onnx.Device device) =>
        new() { { "submodule", submodule }, { "device", device.ToString() }, { "silo", Silo } };

    public void GrainCall(in TagList grain, TimeSpan elapsed, bool failed)
    {
        var tags = grain;
        tags.Add("outcome", failed ? "error" : "ok");
        _grainCall.Record(elapsed.TotalSeconds, tags);
    }

    public void Step(Onnx.Device transformer, TimeSpan elapsed) => _step.Record(elapsed.TotalSeconds, DeviceTags(transformer));

    public void Transfer(string fromSilo, long bytes, TimeSpan elapsed)
    {
        var tags = new TagList { { "from", fromSilo }, { "to", Silo } };
        _transferBytes.Add(bytes, tags);
        _transfer.Record(elapsed.TotalSeconds, tags);
    }

    private TagList DeviceTags(Onnx.Device device) => new() { { "device", device.ToString() }, { "silo", Silo } };
}
