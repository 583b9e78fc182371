using System.Diagnostics;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Onnx;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Onnx;

/// <summary>
/// One submodule's ONNX Runtime session on its device, created on first use (so submodules a job does not need,
/// such as the VAE encoder or T5 with --no-t5, are never loaded). Every call goes through the device's
/// <see cref="DeviceQueue"/>: one call at a time per device, calls on different devices overlap. Inputs are cast to
/// the dtypes the model declares (int32 or int64 input_ids; float16 or float32 activations); outputs come back as
/// float32. Run time and load time go to the <see cref="OrtRunClock"/>.
/// </summary>
public sealed class OnnxSubmodule : IDisposable
{
    private readonly SessionSettings _settings;
    private readonly OrtRunClock _clock;
    private readonly Lazy<OnnxSession> _session;

    public OnnxSubmodule(string name, SubmoduleInfo info, SessionSettings settings, OrtRunClock clock)
    {
        Name = name;
        Info = info;
        _settings = settings;
        _clock = clock;
        Queue = DeviceQueue.For(settings.Device);
        _session = new Lazy<OnnxSession>(Create, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public string Name { get; }
    public SubmoduleInfo Info { get; }
    public Device Device => _settings.Device;
    public DeviceQueue Queue { get; }
    /// <summary>TF32 allowed for this session's float32 math on CUDA.</summary>
    public bool Tf32 => _settings.Tf32;
    public bool IsLoaded => _session.IsValueCreated;

    /// <summary>The session (created now if needed). Call it on <see cref="Queue"/>.</summary>
    public OnnxSession Session => _session.Value;

    private OnnxSession Create()
    {
        long start = Stopwatch.GetTimestamp();
        var session = OnnxSession.Create(Info.ModelPath, _settings);
        _clock.AddLoad(Name, Stopwatch.GetElapsedTime(start));
        return session;
    }

    /// <summary>
    /// Runs on the device's queue with inputs keyed by canonical name; returns the requested canonical outputs as
    /// float32.
    /// </summary>
    public Task<Dictionary<string, Tensor>> RunAsync(IReadOnlyDictionary<string, Tensor> inputs, IReadOnlyList<string> outputs,
        CancellationToken cancellationToken) =>
        Queue.RunAsync(ct => Run(inputs, outputs, ct), cancellationToken);

    /// <summary><see cref="RunAsync"/> for one output.</summary>
    public async Task<Tensor> RunOneAsync(IReadOnlyDictionary<string, Tensor> inputs, string output, CancellationToken cancellationToken) =>
        (await RunAsync(inputs, [output], cancellationToken).ConfigureAwait(false))[output];

    private Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs, IReadOnlyList<string> outputs, CancellationToken ct)
    {
        var session = Session;
        var feed = new Dictionary<string, Tensor>(inputs.Count, StringComparer.Ordinal);
        foreach (var (canonical, tensor) in inputs)
        {
            var signature = Info.Input(canonical);
            feed[signature.Name] = Cast(tensor, signature.DType);
        }
        var names = outputs.Select(o => Info.Output(o).Name).ToArray();
        long start = Stopwatch.GetTimestamp();
        var result = session.Run(feed, names, ct);
        _clock.AddRun(Name, Stopwatch.GetElapsedTime(start));
        var byCanonical = new Dictionary<string, Tensor>(outputs.Count, StringComparer.Ordinal);
        for (int i = 0; i < outputs.Count; i++) byCanonical[outputs[i]] = result[names[i]].AsDType(DType.Float32);
        return byCanonical;
    }

    /// <summary>Runs a binding of this submodule's session, timed into the clock. Call it on <see cref="Queue"/>.</summary>
    public void Run(OnnxBinding binding, CancellationToken ct)
    {
        long start = Stopwatch.GetTimestamp();
        Session.Run(binding, ct);
        _clock.AddRun(Name, Stopwatch.GetElapsedTime(start));
    }

    /// <summary><paramref name="tensor"/> in <paramref name="target"/> (int64 ids narrowed to int32 with a range check).</summary>
    public static Tensor Cast(Tensor tensor, DType target)
    {
        if (tensor.DType == target) return tensor;
        if (tensor.DType == DType.Int64 && target == DType.Int32)
        {
            var src = tensor.AsSpan<long>();
            var dst = new int[src.Length];
            for (int i = 0; i < src.Length; i++) dst[i] = checked((int)src[i]);
            return Tensor.FromArray(dst, tensor.Shape);
        }
        return tensor.ToDType(target);
    }

    /// <summary>Where ONNX Runtime wrote this session's profile (null when profiling is off or the session was never loaded).</summary>
    public string? EndProfiling() => IsLoaded && _settings.ProfilingFilePrefix is not null ? Session.EndProfiling() : null;

    public void Dispose()
    {
        if (_session.IsValueCreated) _session.Value.Dispose();
    }
}
