using System.Diagnostics;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Onnx;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Onnx;

/// <summary>
/// One submodule's ONNX Runtime session, created on first use (so submodules a job does not need, such as
/// the VAE encoder or T5 with --no-t5, are never loaded). Inputs are cast to the dtypes the model declares
/// (int32 or int64 input_ids; float16 or float32 activations); outputs come back as float32. Run time and
/// load time go to the <see cref="OrtRunClock"/>.
/// </summary>
public sealed class OnnxSubmodule : IDisposable
{
    private readonly OrtEnvironment _environment;
    private readonly SessionOptions _options;
    private readonly OrtRunClock _clock;
    private readonly Lazy<InferenceSession> _session;

    public OnnxSubmodule(string name, SubmoduleInfo info, OrtEnvironment environment, SessionOptions options, OrtRunClock clock)
    {
        Name = name;
        Info = info;
        _environment = environment;
        _options = options;
        _clock = clock;
        _session = new Lazy<InferenceSession>(Create, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public string Name { get; }
    public SubmoduleInfo Info { get; }
    public bool IsLoaded => _session.IsValueCreated;

    private InferenceSession Create()
    {
        long start = Stopwatch.GetTimestamp();
        var session = InferenceSession.Create(_environment, Info.ModelPath, _options);
        _clock.AddLoad(Name, Stopwatch.GetElapsedTime(start));
        return session;
    }

    /// <summary>Runs with inputs keyed by canonical name; returns the requested canonical outputs as float32.</summary>
    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs, IReadOnlyList<string> outputs, CancellationToken ct)
    {
        var session = _session.Value;
        var feed = new Dictionary<string, Tensor>(inputs.Count, StringComparer.Ordinal);
        foreach (var (canonical, tensor) in inputs)
        {
            var signature = Info.Input(canonical);
            feed[signature.Name] = Cast(tensor, signature.DType);
        }
        var names = outputs.Select(o => Info.Output(o).Name).ToArray();
        long start = Stopwatch.GetTimestamp();
        var result = session.Run(feed, names, cancellationToken: ct);
        _clock.AddRun(Name, Stopwatch.GetElapsedTime(start));
        var byCanonical = new Dictionary<string, Tensor>(outputs.Count, StringComparer.Ordinal);
        for (int i = 0; i < outputs.Count; i++) byCanonical[outputs[i]] = result[names[i]].AsDType(DType.Float32);
        return byCanonical;
    }

    private static Tensor Cast(Tensor tensor, DType target)
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

    public void Dispose()
    {
        if (_session.IsValueCreated) _session.Value.Dispose();
    }
}
