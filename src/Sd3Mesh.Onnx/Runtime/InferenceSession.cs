using System.Runtime.InteropServices;
using Sd3Mesh.Onnx.Native;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx;

/// <summary>
/// A loaded model on one device (OrtSession): its inputs and outputs, and Run.
/// <para>Thread safety: ONNX Runtime allows concurrent Run calls on one session, and CPU sessions here do
/// run concurrently. WebGPU sessions do not: in ONNX Runtime 1.30 two WebGPU runs in flight in one process
/// fail ("CommandEncoder ... is already finished"), so every Run of every WebGPU session in the process
/// takes one process-wide lock. Disposing a session while runs are in flight is safe: each run holds the
/// native session (and its RunOptions), which is released when the last run ends; later runs throw
/// ObjectDisposedException.</para>
/// <para>Inputs are checked against the model (names, element types, ranks and fixed dimensions) before
/// ONNX Runtime runs, with messages such as "input 'x' expects float32 [batch, 4], got float16 [2, 4]".</para>
/// </summary>
public sealed unsafe class InferenceSession : IDisposable
{
    /// <summary>Serializes runs of WebGPU sessions within the process (see the class remarks).</summary>
    private static readonly SemaphoreSlim s_webGpuRuns = new(1, 1);

    private readonly SessionHandle _handle;
    private readonly NativeNames _inputNames, _outputNames;
    private readonly Dictionary<string, int> _inputIndex, _outputIndex;
    private readonly bool _profiling;
    private int _disposed;

    private InferenceSession(SessionHandle handle, SessionOptions options)
    {
        _handle = handle;
        Device = options.Device;
        _profiling = options.ProfilingFilePrefix is not null;
        Inputs = ReadNodes(isInput: true);
        Outputs = ReadNodes(isInput: false);
        _inputNames = new NativeNames(Inputs);
        _outputNames = new NativeNames(Outputs);
        handle.Dependents = new Both(_inputNames, _outputNames);
        _inputIndex = Index(Inputs);
        _outputIndex = Index(Outputs);
    }

    /// <summary>The device the session runs on.</summary>
    public Device Device { get; }

    /// <summary>The model's inputs, in the model's order.</summary>
    public IReadOnlyList<NodeInfo> Inputs { get; }

    /// <summary>The model's outputs, in the model's order.</summary>
    public IReadOnlyList<NodeInfo> Outputs { get; }

    /// <summary>Loads an ONNX file; external data files are found relative to the model's folder.</summary>
    public static InferenceSession Create(OrtEnvironment environment, string modelPath, SessionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"model file not found: {modelPath}", modelPath);
        return Create(environment, options, (env, opts) =>
        {
            nint session;
            using var path = new Utf8(modelPath);
            OrtStatus.Check(OrtApi.CreateSession(env, path.Pointer, opts, &session));
            return session;
        });
    }

    /// <summary>Loads a model held in memory (weights inline; ONNX Runtime copies what it needs).</summary>
    public static InferenceSession Create(OrtEnvironment environment, byte[] model, SessionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Length == 0) throw new ArgumentException("the model is empty (0 bytes)", nameof(model));
        return Create(environment, options, (env, opts) =>
        {
            nint session;
            fixed (byte* data = model)
                OrtStatus.Check(OrtApi.CreateSessionFromArray(env, data, (nuint)model.Length, opts, &session));
            return session;
        });
    }

    private static InferenceSession Create(OrtEnvironment environment, SessionOptions? options, Func<nint, nint, nint> create)
    {
        ArgumentNullException.ThrowIfNull(environment);
        environment.ThrowIfDisposed();
        options ??= new SessionOptions();
        using var nativeOptions = NativeSessionOptions.Create(options);
        var env = environment.Native;
        bool added = false;
        env.DangerousAddRef(ref added); // the OrtEnv must outlive the session: the session handle releases it
        nint raw;
        try
        {
            raw = create(env.DangerousGetHandle(), nativeOptions.DangerousGetHandle());
        }
        catch (OrtException e) when (options.Device.Kind == DeviceKind.Cuda && ExecutionProviders.MissingLibrary(e.Message) is not null)
        {
            env.DangerousRelease();
            throw new DeviceUnavailableException(options.Device, ExecutionProviders.CudaFailureMessage(options.Device, e.Message), e);
        }
        catch
        {
            env.DangerousRelease();
            throw;
        }
        var handle = new SessionHandle(raw, env);
        try
        {
            return new InferenceSession(handle, options);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs the model on managed tensors and returns the requested outputs (all, when
    /// <paramref name="outputNames"/> is null) as new managed tensors. Inputs are passed without copying.
    /// Cancelling <paramref name="cancellationToken"/> stops the run at the next operator boundary and
    /// throws <see cref="OperationCanceledException"/>.
    /// </summary>
    public IReadOnlyDictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs, IReadOnlyList<string>? outputNames = null,
        RunOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var names = new string[inputs.Count];
        var values = new OrtValue[inputs.Count];
        int n = 0;
        try
        {
            foreach (var (name, tensor) in inputs)
            {
                names[n] = name;
                values[n] = OrtValue.FromTensor(tensor); // checked against the model with the others in RunCore
                n++;
            }
            var wanted = outputNames ?? OutputNames;
            var outputs = Run(names, values, wanted, options, cancellationToken);
            var result = new Dictionary<string, Tensor>(wanted.Count, StringComparer.Ordinal);
            try
            {
                for (int i = 0; i < outputs.Length; i++) result[wanted[i]] = outputs[i].ToTensor();
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

    /// <summary>
    /// Runs the model on OrtValues (no copies on either side) and returns the requested outputs as new
    /// OrtValues in ONNX Runtime's memory; the caller disposes them.
    /// </summary>
    public OrtValue[] Run(IReadOnlyList<string> inputNames, IReadOnlyList<OrtValue> inputs, IReadOnlyList<string> outputNames,
        RunOptions? options = null, CancellationToken cancellationToken = default)
    {
        var outputs = new OrtValue[outputNames.Count];
        RunCore(inputNames, inputs, outputNames, null, outputs, options, cancellationToken);
        return outputs;
    }

    /// <summary>Like <see cref="Run(IReadOnlyList{string}, IReadOnlyList{OrtValue}, IReadOnlyList{string}, RunOptions?, CancellationToken)"/>,
    /// writing into pre-allocated outputs of the right type and shape.</summary>
    public void RunInto(IReadOnlyList<string> inputNames, IReadOnlyList<OrtValue> inputs, IReadOnlyList<string> outputNames,
        IReadOnlyList<OrtValue> outputs, RunOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        if (outputs.Count != outputNames.Count)
            throw new ArgumentException($"{outputNames.Count} output names but {outputs.Count} output values");
        RunCore(inputNames, inputs, outputNames, outputs, null, options, cancellationToken);
    }

    /// <summary>Runs with the inputs and outputs bound in <paramref name="binding"/> (see <see cref="IoBinding"/>).</summary>
    public void Run(IoBinding binding, RunOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(binding);
        if (binding.Session != this) throw new ArgumentException("the binding was created by another session", nameof(binding));
        binding.CheckAllInputsBound();
        ThrowIfDisposed();
        using var scope = new RunScope(this, options, cancellationToken);
        bool added = false;
        binding.Handle.DangerousAddRef(ref added);
        try
        {
            scope.Check(OrtApi.RunWithBinding(_handle.DangerousGetHandle(), scope.NativeOptions, binding.Handle.DangerousGetHandle()));
        }
        finally
        {
            if (added) binding.Handle.DangerousRelease();
        }
    }

    /// <summary>A new binding of this session's inputs and outputs to values or devices.</summary>
    public IoBinding CreateIoBinding()
    {
        ThrowIfDisposed();
        return new IoBinding(this);
    }

    /// <summary>Ends profiling and returns the path of the JSON profile (Chrome trace format).</summary>
    public string EndProfiling()
    {
        if (!_profiling) throw new InvalidOperationException("profiling is off for this session: set SessionOptions.ProfilingFilePrefix");
        ThrowIfDisposed();
        byte* path;
        OrtStatus.Check(OrtApi.SessionEndProfiling(_handle.DangerousGetHandle(), DefaultAllocator.Pointer, &path));
        return Path.GetFullPath(Utf8.ReadAndFree(path));
    }

    private string[] OutputNames => [.. Outputs.Select(o => o.Name)];

    internal SessionHandle Handle => _handle;

    internal int InputIndex(string name) =>
        _inputIndex.TryGetValue(name, out int i) ? i
            : throw new ArgumentException($"unknown input '{name}': the model's inputs are {Describe(Inputs)}");

    internal int OutputIndex(string name) =>
        _outputIndex.TryGetValue(name, out int i) ? i
            : throw new ArgumentException($"unknown output '{name}': the model's outputs are {Describe(Outputs)}");

    internal byte* InputNamePointer(int index) => _inputNames[index];
    internal byte* OutputNamePointer(int index) => _outputNames[index];

    /// <summary>Checks a value against input <paramref name="name"/> (element type, rank and every fixed dimension); returns the input's index.</summary>
    internal int CheckInput(string name, DType dtype, TensorShape shape)
    {
        int index = InputIndex(name);
        CheckInput(index, dtype, shape);
        return index;
    }

    private void CheckInput(int index, DType dtype, TensorShape shape)
    {
        var info = Inputs[index];
        if (dtype != info.DType || !info.Accepts(shape))
            throw new ArgumentException($"input '{info.Name}' expects {info.TypeText}, got {dtype.Name()} {shape}");
    }

    /// <summary>Checks a value given for output <paramref name="name"/>; returns the output's index.</summary>
    internal int CheckOutput(string name, DType dtype, TensorShape shape)
    {
        int index = OutputIndex(name);
        CheckOutput(index, dtype, shape);
        return index;
    }

    private void CheckOutput(int index, DType dtype, TensorShape shape)
    {
        var info = Outputs[index];
        if (dtype != info.DType || !info.Accepts(shape))
            throw new ArgumentException($"output '{info.Name}' is {info.TypeText}, but the value given for it is {dtype.Name()} {shape}");
    }

    internal string MissingInputMessage(int index) =>
        $"missing input '{Inputs[index].Name}' ({Inputs[index].TypeText}): the model's inputs are {Describe(Inputs)}";

    private static string Describe(IReadOnlyList<NodeInfo> nodes) => string.Join(", ", nodes.Select(n => $"{n.Name} ({n.TypeText})"));

    private void RunCore(IReadOnlyList<string> inputNames, IReadOnlyList<OrtValue> inputs, IReadOnlyList<string> outputNames,
        IReadOnlyList<OrtValue>? given, OrtValue[]? produced, RunOptions? options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(inputNames);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputNames);
        ThrowIfDisposed();
        int n = inputs.Count, m = outputNames.Count;
        if (inputNames.Count != n) throw new ArgumentException($"{n} input values but {inputNames.Count} input names");
        if (m == 0) throw new ArgumentException("no outputs requested");

        // Validate everything before the first native call.
        Span<int> inputSlots = n <= 64 ? stackalloc int[n] : new int[n];
        Span<bool> seen = Inputs.Count <= 256 ? stackalloc bool[Inputs.Count] : new bool[Inputs.Count];
        for (int i = 0; i < n; i++)
        {
            int slot = InputIndex(inputNames[i]);
            if (seen[slot]) throw new ArgumentException($"input '{inputNames[i]}' is given twice");
            seen[slot] = true;
            var v = inputs[i] ?? throw new ArgumentException($"input '{inputNames[i]}' is null");
            CheckInput(slot, v.DType, v.Shape);
            inputSlots[i] = slot;
        }
        for (int slot = 0; slot < Inputs.Count; slot++)
            if (!seen[slot]) throw new ArgumentException(MissingInputMessage(slot));
        Span<int> outputSlots = m <= 64 ? stackalloc int[m] : new int[m];
        for (int j = 0; j < m; j++)
        {
            outputSlots[j] = OutputIndex(outputNames[j]);
            if (given is not null)
            {
                var o = given[j] ?? throw new ArgumentException($"output '{outputNames[j]}' is null");
                CheckOutput(outputSlots[j], o.DType, o.Shape);
            }
        }

        var inNames = n <= 64 ? stackalloc nint[n] : new nint[n];
        var inValues = n <= 64 ? stackalloc nint[n] : new nint[n];
        var outNames = m <= 64 ? stackalloc nint[m] : new nint[m];
        var outValues = m <= 64 ? stackalloc nint[m] : new nint[m];
        outValues.Clear();
        int refs = 0, outRefs = 0;
        try
        {
            for (; refs < n; refs++)
            {
                bool added = false;
                inputs[refs].Handle.DangerousAddRef(ref added);
                inNames[refs] = (nint)_inputNames[inputSlots[refs]];
                inValues[refs] = inputs[refs].Handle.DangerousGetHandle();
            }
            for (int j = 0; j < m; j++) outNames[j] = (nint)_outputNames[outputSlots[j]];
            if (given is not null)
                for (; outRefs < m; outRefs++)
                {
                    bool added = false;
                    given[outRefs].Handle.DangerousAddRef(ref added);
                    outValues[outRefs] = given[outRefs].Handle.DangerousGetHandle();
                }

            fixed (nint* pInNames = inNames, pInValues = inValues, pOutNames = outNames, pOutValues = outValues)
            {
                using var scope = new RunScope(this, options, cancellationToken);
                scope.Check(OrtApi.Run(_handle.DangerousGetHandle(), scope.NativeOptions,
                    (byte**)pInNames, pInValues, (nuint)n, (byte**)pOutNames, (nuint)m, pOutValues));
            }
            if (produced is not null)
                for (int j = 0; j < m; j++) produced[j] = OrtValue.Own(outValues[j]);
        }
        catch
        {
            if (produced is not null)
                for (int j = 0; j < m; j++)
                    if (outValues[j] != 0) OrtApi.ReleaseValue(outValues[j]);
            throw;
        }
        finally
        {
            for (int i = 0; i < refs; i++) inputs[i].Handle.DangerousRelease();
            for (int j = 0; j < outRefs; j++) given![j].Handle.DangerousRelease();
        }
    }

    /// <summary>
    /// What surrounds one native run: the session and the run options kept alive (a disposed one is refused),
    /// the WebGPU lock where needed, native run options made for the run when cancellation needs a terminate
    /// flag and the caller gave none, and cancellation wired to that flag. ONNX Runtime takes null options.
    /// </summary>
    private ref struct RunScope
    {
        private readonly InferenceSession _session;
        private readonly RunOptions? _options;
        private readonly bool _ownsOptions, _locked, _addedSession, _addedOptions;
        private readonly CancellationToken _cancellationToken;
        private CancellationTokenRegistration _registration;

        public RunScope(InferenceSession session, RunOptions? options, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            _session = session;
            _cancellationToken = cancellationToken;
            _ownsOptions = options is null && cancellationToken.CanBeCanceled;
            _options = _ownsOptions ? new RunOptions() : options;
            try
            {
                if (session.Device.Kind == DeviceKind.WebGpu)
                {
                    s_webGpuRuns.Wait(cancellationToken);
                    _locked = true;
                }
                _addedSession = AddRef(session._handle, nameof(InferenceSession));
                if (_options is not null) _addedOptions = AddRef(_options.Handle, nameof(RunOptions));
                if (cancellationToken.CanBeCanceled)
                    _registration = cancellationToken.Register(static o => ((RunOptions)o!).Terminate(), _options);
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        private static bool AddRef(SafeHandle handle, string owner)
        {
            bool added = false;
            try
            {
                handle.DangerousAddRef(ref added);
            }
            catch (ObjectDisposedException)
            {
                throw new ObjectDisposedException(owner);
            }
            return added;
        }

        public readonly nint NativeOptions => _options?.Handle.DangerousGetHandle() ?? 0;

        /// <summary>Throws for a failed status: OperationCanceledException when the run was told to stop.</summary>
        public readonly void Check(nint status)
        {
            if (status == 0) return;
            var error = OrtStatus.ToException(status);
            if (_cancellationToken.IsCancellationRequested || _options?.IsTerminateRequested == true)
                throw new OperationCanceledException($"the run was cancelled (ONNX Runtime: {error.Message})", error, _cancellationToken);
            throw error;
        }

        public void Dispose()
        {
            _registration.Dispose(); // waits for a Terminate callback in progress
            if (_addedSession) _session._handle.DangerousRelease();
            if (_locked) s_webGpuRuns.Release();
            if (_ownsOptions) _options!.Dispose();
            // A cancellation that came too late to stop the run must not poison the caller's options.
            else if (_addedOptions && _options!.IsTerminateRequested && _cancellationToken.IsCancellationRequested) _options.ResetTerminate();
            if (_addedOptions) _options!.Handle.DangerousRelease();
        }
    }

    private IReadOnlyList<NodeInfo> ReadNodes(bool isInput)
    {
        nint session = _handle.DangerousGetHandle();
        nuint count;
        OrtStatus.Check(isInput ? OrtApi.SessionGetInputCount(session, &count) : OrtApi.SessionGetOutputCount(session, &count));
        var nodes = new NodeInfo[(int)count];
        for (nuint i = 0; i < count; i++)
        {
            byte* rawName;
            OrtStatus.Check(isInput
                ? OrtApi.SessionGetInputName(session, i, DefaultAllocator.Pointer, &rawName)
                : OrtApi.SessionGetOutputName(session, i, DefaultAllocator.Pointer, &rawName));
            string name = Utf8.ReadAndFree(rawName);
            nint typeInfo;
            OrtStatus.Check(isInput
                ? OrtApi.SessionGetInputTypeInfo(session, i, &typeInfo)
                : OrtApi.SessionGetOutputTypeInfo(session, i, &typeInfo));
            using var typeHandle = new TypeInfoHandle(typeInfo);
            int onnxType;
            OrtStatus.Check(OrtApi.GetOnnxTypeFromTypeInfo(typeInfo, &onnxType));
            if (onnxType != 1)
                throw new NotSupportedException(
                    $"{(isInput ? "input" : "output")} '{name}' is not a tensor (ONNX type {onnxType}); Sd3Mesh binds tensors only");
            nint tensorInfo; // owned by typeInfo
            OrtStatus.Check(OrtApi.CastTypeInfoToTensorInfo(typeInfo, &tensorInfo));
            var (dtype, dims) = TypeAndShape.Read(tensorInfo);
            nodes[(int)i] = new NodeInfo(name, dtype, dims, TypeAndShape.ReadSymbolic(tensorInfo, dims.Length));
        }
        return nodes;
    }

    private static Dictionary<string, int> Index(IReadOnlyList<NodeInfo> nodes)
    {
        var index = new Dictionary<string, int>(nodes.Count, StringComparer.Ordinal);
        for (int i = 0; i < nodes.Count; i++) index[nodes[i].Name] = i;
        return index;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _handle.Dispose(); // the native session goes once runs in flight have ended
    }

    private sealed class Both(IDisposable a, IDisposable b) : IDisposable
    {
        public void Dispose() { a.Dispose(); b.Dispose(); }
    }

    /// <summary>Input or output names as native UTF-8 strings, made once so Run passes them without marshalling.</summary>
    private sealed class NativeNames(IReadOnlyList<NodeInfo> nodes) : IDisposable
    {
        private readonly Utf8[] _names = [.. nodes.Select(n => new Utf8(n.Name))];

        public byte* this[int index] => _names[index].Pointer;

        public void Dispose()
        {
            foreach (var name in _names) name.Dispose();
        }
    }
}
