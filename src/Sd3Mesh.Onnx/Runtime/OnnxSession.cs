using Microsoft.ML.OnnxRuntime;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx;

/// <summary>
/// A loaded model on one <see cref="Onnx.Device"/>: ONNX Runtime's <see cref="InferenceSession"/> (official managed
/// API) with what Sd3Mesh adds around it:
/// <list type="bullet">
/// <item>the execution provider chosen by a typed <see cref="Onnx.Device"/> (<see cref="SessionSettings"/>), with
/// a clear <see cref="DeviceUnavailableException"/> when it cannot be used;</item>
/// <item>inputs checked against the model before ONNX Runtime runs (names, element types, ranks, fixed
/// dimensions), with messages such as "input 'x' expects float32 [batch, 4], got float16 [2, 4]";</item>
/// <item>cancellation: a cancelled token sets <see cref="RunOptions.Terminate"/>, which stops the run at the next
/// operator, and the run ends in <see cref="OperationCanceledException"/>;</item>
/// <item>runs on Sd3Mesh <see cref="Tensor"/>s, and on <see cref="OnnxBinding"/>s (values that stay on the device).</item>
/// </list>
/// Thread safety: runs may be concurrent (ONNX Runtime allows it). Disposing while runs are in flight is safe: the
/// native session goes when the last of them ends; later runs throw <see cref="ObjectDisposedException"/>.
/// </summary>
public sealed class OnnxSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _plainRun = new(); // for runs that cannot be cancelled: shared, never terminated
    private readonly Dictionary<string, int> _inputIndex, _outputIndex;
    private readonly Lock _gate = new();
    private readonly Lazy<OrtAllocator> _deviceAllocator;
    private int _runs;
    private bool _disposed;

    private OnnxSession(InferenceSession session, SessionSettings settings)
    {
        _session = session;
        Settings = settings;
        Inputs = [.. session.InputNames.Select(n => NodeInfo.From(n, session.InputMetadata[n], isInput: true))];
        Outputs = [.. session.OutputNames.Select(n => NodeInfo.From(n, session.OutputMetadata[n], isInput: false))];
        _inputIndex = Index(Inputs);
        _outputIndex = Index(Outputs);
        _deviceAllocator = new(() => Device.IsCpu ? OrtAllocator.DefaultInstance : new OrtAllocator(_session, TensorValues.MemoryOf(Device)));
    }

    /// <summary>The device the session runs on.</summary>
    public Device Device => Settings.Device;

    /// <summary>The settings it was created with (a copy: later changes to the caller's object do not reach it).</summary>
    public SessionSettings Settings { get; }

    /// <summary>The model's inputs, in the model's order.</summary>
    public IReadOnlyList<NodeInfo> Inputs { get; }

    /// <summary>The model's outputs, in the model's order.</summary>
    public IReadOnlyList<NodeInfo> Outputs { get; }

    /// <summary>ONNX Runtime's session, for what this class does not cover.</summary>
    public InferenceSession Native => _session;

    /// <summary>Loads an ONNX file; external data files are found relative to the model's folder.</summary>
    public static OnnxSession Create(string modelPath, SessionSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"model file not found: {modelPath}", modelPath);
        return Create(settings, options => new InferenceSession(modelPath, options));
    }

    /// <summary>Loads a model held in memory.</summary>
    public static OnnxSession Create(byte[] model, SessionSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Length == 0) throw new ArgumentException("the model is empty (0 bytes)", nameof(model));
        return Create(settings, options => new InferenceSession(model, options));
    }

    private static OnnxSession Create(SessionSettings? settings, Func<SessionOptions, InferenceSession> create)
    {
        settings = (settings ?? new SessionSettings()).Clone();
        using var options = settings.Build();
        var session = create(options);
        try
        {
            return new OnnxSession(session, settings);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs the model on managed tensors (wrapped without copying) and returns the requested outputs (all, when
    /// <paramref name="outputNames"/> is null) as new managed tensors.
    /// </summary>
    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs, IReadOnlyList<string>? outputNames = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var names = new string[inputs.Count];
        var values = new PinnedTensorValue[inputs.Count];
        int n = 0;
        try
        {
            foreach (var (name, tensor) in inputs)
            {
                CheckInput(name, tensor.DType, tensor.Shape);
                names[n] = name;
                values[n++] = PinnedTensorValue.Wrap(tensor);
            }
            var wanted = outputNames ?? [.. Outputs.Select(o => o.Name)];
            CheckComplete(names, wanted);
            var outputs = RunValues(names, values.Select(v => v.Value).ToArray(), wanted, cancellationToken);
            var result = new Dictionary<string, Tensor>(wanted.Count, StringComparer.Ordinal);
            try
            {
                for (int i = 0; i < outputs.Length; i++) result[wanted[i]] = TensorValues.ToTensor(outputs[i]);
            }
            finally
            {
                foreach (var o in outputs) o.Dispose();
            }
            return result;
        }
        finally
        {
            for (int i = 0; i < n; i++) values[i].Dispose();
        }
    }

    /// <summary>Runs on OrtValues (no copies) and returns the requested outputs as new CPU OrtValues the caller disposes.</summary>
    public OrtValue[] Run(IReadOnlyList<string> inputNames, IReadOnlyList<OrtValue> inputs, IReadOnlyList<string> outputNames,
        CancellationToken cancellationToken = default)
    {
        CheckRun(inputNames, inputs, outputNames);
        return RunValues(inputNames, inputs, outputNames, cancellationToken);
    }

    private OrtValue[] RunValues(IReadOnlyList<string> inputNames, IReadOnlyList<OrtValue> inputs, IReadOnlyList<string> outputNames,
        CancellationToken cancellationToken) =>
        Guarded(cancellationToken, null, options =>
        {
            var outputs = _session.Run(options, inputNames, inputs, outputNames);
            return outputs.ToArray(); // the caller owns them (disposing the collection would release them)
        });

    /// <summary>Like <see cref="Run(IReadOnlyList{string}, IReadOnlyList{OrtValue}, IReadOnlyList{string}, CancellationToken)"/>,
    /// writing into pre-allocated outputs of the right type and shape.</summary>
    public void RunInto(IReadOnlyList<string> inputNames, IReadOnlyList<OrtValue> inputs, IReadOnlyList<string> outputNames,
        IReadOnlyList<OrtValue> outputs, CancellationToken cancellationToken = default)
    {
        CheckRun(inputNames, inputs, outputNames);
        ArgumentNullException.ThrowIfNull(outputs);
        if (outputs.Count != outputNames.Count) throw new ArgumentException($"{outputNames.Count} output names but {outputs.Count} output values");
        for (int j = 0; j < outputs.Count; j++)
            CheckOutput(outputNames[j], TensorValues.DTypeOf(outputs[j]), TensorValues.ShapeOf(outputs[j]));
        Guarded(cancellationToken, null, options =>
        {
            _session.Run(options, inputNames, inputs, outputNames, outputs);
            return 0;
        });
    }

    /// <summary>Runs with the inputs and outputs bound in <paramref name="binding"/> (see <see cref="OnnxBinding"/>).</summary>
    public void Run(OnnxBinding binding, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(binding);
        if (binding.Session != this) throw new ArgumentException("the binding was created by another session", nameof(binding));
        binding.CheckAllInputsBound();
        Guarded(cancellationToken, binding.GraphId, options =>
        {
            _session.RunWithBinding(options, binding.Native);
            return 0;
        });
    }

    /// <summary>A new binding of this session's inputs and outputs to values or devices.</summary>
    public OnnxBinding CreateBinding()
    {
        lock (_gate) ObjectDisposedException.ThrowIf(_disposed, this);
        return new OnnxBinding(this, _session.CreateIoBinding());
    }

    /// <summary>A new tensor in the session's device memory (uninitialized), allocated by the session's own allocator.</summary>
    public OrtValue Allocate(DType dtype, TensorShape shape)
    {
        lock (_gate) ObjectDisposedException.ThrowIf(_disposed, this);
        return OrtValue.CreateAllocatedTensorValue(_deviceAllocator.Value, TensorValues.ElementType(dtype), shape.ToArray());
    }

    /// <summary>Ends profiling and returns the path of the JSON profile (Chrome trace format).</summary>
    public string EndProfiling()
    {
        if (Settings.ProfilingFilePrefix is null)
            throw new InvalidOperationException("profiling is off for this session: set SessionSettings.ProfilingFilePrefix");
        lock (_gate) ObjectDisposedException.ThrowIf(_disposed, this);
        return Path.GetFullPath(_session.EndProfiling());
    }

    internal int InputIndex(string name) =>
        _inputIndex.TryGetValue(name, out int i) ? i
            : throw new ArgumentException($"unknown input '{name}': the model's inputs are {Describe(Inputs)}");

    internal int OutputIndex(string name) =>
        _outputIndex.TryGetValue(name, out int i) ? i
            : throw new ArgumentException($"unknown output '{name}': the model's outputs are {Describe(Outputs)}");

    /// <summary>Checks a value for input <paramref name="name"/>: element type, rank and every fixed dimension.</summary>
    internal void CheckInput(string name, DType dtype, TensorShape shape)
    {
        var info = Inputs[InputIndex(name)];
        if (dtype != info.DType || !info.Accepts(shape))
            throw new ArgumentException($"input '{info.Name}' expects {info.TypeText}, got {dtype.Name()} {shape}");
    }

    /// <summary>Checks a value given for output <paramref name="name"/>.</summary>
    internal void CheckOutput(string name, DType dtype, TensorShape shape)
    {
        var info = Outputs[OutputIndex(name)];
        if (dtype != info.DType || !info.Accepts(shape))
            throw new ArgumentException($"output '{info.Name}' is {info.TypeText}, but the value given for it is {dtype.Name()} {shape}");
    }

    internal string MissingInputMessage(int index) =>
        $"missing input '{Inputs[index].Name}' ({Inputs[index].TypeText}): the model's inputs are {Describe(Inputs)}";

    private static string Describe(IReadOnlyList<NodeInfo> nodes) => string.Join(", ", nodes.Select(n => $"{n.Name} ({n.TypeText})"));

    /// <summary>Validates a run on values before the first native call: every input once, checked, none missing.</summary>
    private void CheckRun(IReadOnlyList<string> inputNames, IReadOnlyList<OrtValue> inputs, IReadOnlyList<string> outputNames)
    {
        ArgumentNullException.ThrowIfNull(inputNames);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputNames);
        if (inputNames.Count != inputs.Count) throw new ArgumentException($"{inputs.Count} input values but {inputNames.Count} input names");
        for (int i = 0; i < inputs.Count; i++)
        {
            var value = inputs[i] ?? throw new ArgumentException($"input '{inputNames[i]}' is null");
            var info = value.GetTensorTypeAndShape();
            CheckInput(inputNames[i], TensorValues.ToDType(info.ElementDataType), new TensorShape(info.Shape));
        }
        CheckComplete(inputNames, outputNames);
    }

    /// <summary>Every input of the model given once, and at least one known output asked for.</summary>
    private void CheckComplete(IReadOnlyList<string> inputNames, IReadOnlyList<string> outputNames)
    {
        if (outputNames.Count == 0) throw new ArgumentException("no outputs requested");
        Span<bool> seen = Inputs.Count <= 256 ? stackalloc bool[Inputs.Count] : new bool[Inputs.Count];
        foreach (var name in inputNames)
        {
            int slot = InputIndex(name);
            if (seen[slot]) throw new ArgumentException($"input '{name}' is given twice");
            seen[slot] = true;
        }
        for (int slot = 0; slot < Inputs.Count; slot++)
            if (!seen[slot]) throw new ArgumentException(MissingInputMessage(slot));
        foreach (var name in outputNames) OutputIndex(name);
    }

    /// <summary>
    /// Runs <paramref name="run"/> while holding the session (so Dispose waits for it), with RunOptions that a
    /// cancelled token terminates; a run stopped that way ends in OperationCanceledException. A CUDA graph id, when
    /// given, goes into the run's options (gpu_graph_id).
    /// </summary>
    private T Guarded<T>(CancellationToken cancellationToken, int? graphId, Func<RunOptions, T> run)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _runs++;
        }
        bool own = cancellationToken.CanBeCanceled || graphId is not null;
        var options = own ? new RunOptions() : _plainRun;
        var registration = default(CancellationTokenRegistration);
        try
        {
            if (graphId is { } id) options.AddRunConfigEntry("gpu_graph_id", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (cancellationToken.CanBeCanceled)
                registration = cancellationToken.Register(static o => ((RunOptions)o!).Terminate = true, options);
            return run(options);
        }
        catch (OnnxRuntimeException e) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException($"the run was cancelled (ONNX Runtime: {e.Message})", e, cancellationToken);
        }
        finally
        {
            registration.Dispose(); // waits for a Terminate callback in progress
            if (own) options.Dispose();
            Leave();
        }
    }

    private void Leave()
    {
        bool release;
        lock (_gate) release = --_runs == 0 && _disposed;
        if (release) ReleaseNative();
    }

    private static Dictionary<string, int> Index(IReadOnlyList<NodeInfo> nodes)
    {
        var index = new Dictionary<string, int>(nodes.Count, StringComparer.Ordinal);
        for (int i = 0; i < nodes.Count; i++) index[nodes[i].Name] = i;
        return index;
    }

    public void Dispose()
    {
        bool release;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            release = _runs == 0;
        }
        if (release) ReleaseNative(); // else the last run in flight releases it
    }

    private void ReleaseNative()
    {
        if (_deviceAllocator.IsValueCreated && !Device.IsCpu) _deviceAllocator.Value.Dispose();
        _plainRun.Dispose();
        _session.Dispose();
    }
}
