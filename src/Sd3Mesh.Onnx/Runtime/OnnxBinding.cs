using Microsoft.ML.OnnxRuntime;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx;

/// <summary>
/// Binds a session's inputs and outputs ahead of <see cref="OnnxSession.Run(OnnxBinding, CancellationToken)"/>
/// (ONNX Runtime's <see cref="OrtIoBinding"/>), checked against the model. An output bound to a device
/// (<see cref="BindOutput(string, Device)"/>) stays in that device's memory after the run: take it with
/// <see cref="GetOutputs"/> and bind it as the next run's input, so latents never round-trip through the CPU
/// between denoising steps. Outputs bound to pre-allocated values (<see cref="BindOutput(string, OrtValue)"/>) are
/// written in place every run: the fixed buffers that CUDA graph replay needs.
/// <para>Values ONNX Runtime allocated may be disposed while bound (ONNX Runtime holds its own reference); a tensor
/// bound with <see cref="BindInput(string, Tensor)"/> stays pinned until it is unbound or the binding is disposed.
/// Not thread-safe: one binding per run at a time.</para>
/// </summary>
public sealed class OnnxBinding : IDisposable
{
    private readonly Dictionary<string, PinnedTensorValue> _pinned = new(StringComparer.Ordinal);
    private readonly HashSet<string> _boundInputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Device> _outputDevices = new(StringComparer.Ordinal); // outputs ONNX Runtime allocates
    private bool _disposed;

    internal OnnxBinding(OnnxSession session, OrtIoBinding native)
    {
        Session = session;
        Native = native;
    }

    public OnnxSession Session { get; }

    /// <summary>ONNX Runtime's binding.</summary>
    public OrtIoBinding Native { get; }

    /// <summary>CUDA graph id of runs with this binding (gpu_graph_id, 1, 2, ...: one captured graph per binding); null for the default.</summary>
    public int? GraphId { get; set; }

    /// <summary>Binds an input to a value (CPU or device memory), checked against the model first.</summary>
    public void BindInput(string name, OrtValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        ObjectDisposedException.ThrowIf(_disposed, this);
        Session.CheckInput(name, TensorValues.DTypeOf(value), TensorValues.ShapeOf(value));
        Native.BindInput(name, value);
        Unpin(name);
        _boundInputs.Add(name);
    }

    /// <summary>Binds an input to a managed tensor (wrapped without copying; pinned while bound).</summary>
    public void BindInput(string name, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        ObjectDisposedException.ThrowIf(_disposed, this);
        Session.CheckInput(name, tensor.DType, tensor.Shape);
        var pinned = PinnedTensorValue.Wrap(tensor);
        try
        {
            Native.BindInput(name, pinned.Value);
        }
        catch
        {
            pinned.Dispose();
            throw;
        }
        Unpin(name);
        _pinned[name] = pinned;
        _boundInputs.Add(name);
    }

    /// <summary>Binds an output to a pre-allocated value of the right type and shape (written in place every run).</summary>
    public void BindOutput(string name, OrtValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        ObjectDisposedException.ThrowIf(_disposed, this);
        Session.CheckOutput(name, TensorValues.DTypeOf(value), TensorValues.ShapeOf(value));
        Native.BindOutput(name, value);
        _outputDevices.Remove(name);
    }

    /// <summary>
    /// Lets ONNX Runtime allocate the output in <paramref name="device"/>'s memory (cpu: CPU memory; the session's
    /// own device: the output stays there).
    /// </summary>
    public void BindOutput(string name, Device device)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Session.OutputIndex(name);
        if (!device.IsCpu && device != Session.Device)
            throw new ArgumentException($"output '{name}' can be bound to cpu or to the session's device {Session.Device}, not {device}");
        Native.BindOutputToDevice(name, TensorValues.MemoryOf(device));
        _outputDevices[name] = device;
    }

    /// <summary>Binds every output of the session to <paramref name="device"/>.</summary>
    public void BindOutputs(Device device)
    {
        foreach (var output in Session.Outputs) BindOutput(output.Name, device);
    }

    public void ClearInputs()
    {
        Native.ClearBoundInputs();
        foreach (var name in _pinned.Keys.ToList()) Unpin(name);
        _boundInputs.Clear();
    }

    public void ClearOutputs()
    {
        Native.ClearBoundOutputs();
        _outputDevices.Clear();
    }

    /// <summary>Names of the bound outputs, in binding order.</summary>
    public IReadOnlyList<string> OutputNames => Native.GetOutputNames();

    /// <summary>
    /// The outputs of the last run, by name, as new OrtValues (in the memory they were bound to) that the caller
    /// owns and disposes. Outputs ONNX Runtime allocated on a device are bound afresh here: ONNX Runtime would
    /// otherwise write the next run's output into the same buffer, under the values just handed out (and under
    /// the next run's input when an output is fed back).
    /// </summary>
    public IReadOnlyDictionary<string, OrtValue> GetOutputs()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var names = Native.GetOutputNames();
        var values = Native.GetOutputValues();
        var result = new Dictionary<string, OrtValue>(names.Length, StringComparer.Ordinal);
        try
        {
            for (int i = 0; i < names.Length; i++)
            {
                result[names[i]] = values[i];
                if (values[i].OnnxType == OnnxValueType.ONNX_TYPE_UNKNOWN) // bound to a device, not filled by a run yet
                    throw new InvalidOperationException(
                        $"output '{names[i]}' has no value: run the session first (each run's device outputs can be taken once)");
            }
        }
        catch
        {
            values.Dispose();
            throw;
        }
        foreach (var (name, device) in _outputDevices) Native.BindOutputToDevice(name, TensorValues.MemoryOf(device));
        return result;
    }

    /// <summary>Throws a clear error if an input of the model is not bound.</summary>
    internal void CheckAllInputsBound()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        for (int i = 0; i < Session.Inputs.Count; i++)
            if (!_boundInputs.Contains(Session.Inputs[i].Name))
                throw new ArgumentException(Session.MissingInputMessage(i));
    }

    /// <summary>Lets go of a tensor wrapped for <paramref name="name"/>: it is unpinned now, not when the binding goes.</summary>
    private void Unpin(string name)
    {
        if (_pinned.Remove(name, out var old)) old.Dispose();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Native.Dispose();
        foreach (var pinned in _pinned.Values) pinned.Dispose();
        _pinned.Clear();
    }
}
