using System.Text;
using Sd3Mesh.Onnx.Native;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx;

/// <summary>
/// Binds a session's inputs and outputs ahead of <see cref="InferenceSession.Run(IoBinding, RunOptions?, CancellationToken)"/>
/// (OrtIoBinding). An output bound to a device (<see cref="BindOutput(string, Device)"/>) stays in that
/// device's memory after the run: take it with <see cref="GetOutputs"/> and bind it as the next run's input,
/// so data such as latents never round-trip through the CPU between denoising steps.
/// <para>Bound values stay alive while bound (disposing one early is safe: it is released when unbound).
/// Not thread-safe: use one binding per thread.</para>
/// </summary>
public sealed unsafe class IoBinding : IDisposable
{
    private readonly Dictionary<string, OrtValue> _inputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, OrtValue> _outputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, OrtValue> _owned = new(StringComparer.Ordinal); // inputs wrapped from tensors
    private readonly Dictionary<string, Device> _outputDevices = new(StringComparer.Ordinal); // outputs ORT allocates

    internal IoBinding(InferenceSession session)
    {
        Session = session;
        nint raw;
        OrtStatus.Check(OrtApi.CreateIoBinding(session.Handle.DangerousGetHandle(), &raw));
        Handle = new IoBindingHandle(raw);
    }

    internal InferenceSession Session { get; }
    internal IoBindingHandle Handle { get; }

    /// <summary>Binds an input to a value (CPU or device memory); checked against the model first.</summary>
    public void BindInput(string name, OrtValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        Session.CheckInput(name, value.DType, value.Shape);
        int index = Session.InputIndex(name);
        Keep(_inputs, name, value);
        OrtStatus.Check(OrtApi.BindInput(Handle.DangerousGetHandle(), Session.InputNamePointer(index), value.Handle.DangerousGetHandle()));
    }

    /// <summary>Binds an input to a managed tensor (wrapped without copying; pinned while bound).</summary>
    public void BindInput(string name, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        Session.CheckInput(name, tensor.DType, tensor.Shape);
        var value = OrtValue.FromTensor(tensor);
        BindInput(name, value);
        if (_owned.Remove(name, out var previous)) previous.Dispose();
        _owned[name] = value;
    }

    /// <summary>Binds an output to a pre-allocated value of the right type and shape.</summary>
    public void BindOutput(string name, OrtValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        Session.CheckOutput(name, value.DType, value.Shape);
        int index = Session.OutputIndex(name);
        Keep(_outputs, name, value);
        _outputDevices.Remove(name);
        OrtStatus.Check(OrtApi.BindOutput(Handle.DangerousGetHandle(), Session.OutputNamePointer(index), value.Handle.DangerousGetHandle()));
    }

    /// <summary>
    /// Lets ONNX Runtime allocate the output in <paramref name="device"/>'s memory (cpu: CPU memory; the
    /// session's own device: the output stays there).
    /// </summary>
    public void BindOutput(string name, Device device)
    {
        int index = Session.OutputIndex(name);
        if (!device.IsCpu && device != Session.Device)
            throw new ArgumentException($"output '{name}' can be bound to cpu or to the session's device {Session.Device}, not {device}");
        Release(_outputs, name);
        BindToDevice(index, device);
        _outputDevices[name] = device;
    }

    private void BindToDevice(int outputIndex, Device device) =>
        OrtStatus.Check(OrtApi.BindOutputToDevice(Handle.DangerousGetHandle(), Session.OutputNamePointer(outputIndex),
            MemoryInfos.For(device).DangerousGetHandle()));

    /// <summary>Binds every output of the session to <paramref name="device"/>.</summary>
    public void BindOutputs(Device device)
    {
        foreach (var output in Session.Outputs) BindOutput(output.Name, device);
    }

    public void ClearInputs()
    {
        OrtApi.ClearBoundInputs(Handle.DangerousGetHandle());
        foreach (var name in _inputs.Keys.ToList()) Release(_inputs, name);
    }

    public void ClearOutputs()
    {
        OrtApi.ClearBoundOutputs(Handle.DangerousGetHandle());
        foreach (var name in _outputs.Keys.ToList()) Release(_outputs, name);
        _outputDevices.Clear();
    }

    /// <summary>Waits until bound inputs have reached their device (needed only for asynchronous EPs).</summary>
    public void SynchronizeInputs() => OrtStatus.Check(OrtApi.SynchronizeBoundInputs(Handle.DangerousGetHandle()));

    /// <summary>Waits until outputs are complete in their memory (needed only for asynchronous EPs).</summary>
    public void SynchronizeOutputs() => OrtStatus.Check(OrtApi.SynchronizeBoundOutputs(Handle.DangerousGetHandle()));

    /// <summary>Names of the bound outputs, in binding order.</summary>
    public IReadOnlyList<string> OutputNames
    {
        get
        {
            byte* buffer;
            nuint* lengths;
            nuint count;
            OrtStatus.Check(OrtApi.GetBoundOutputNames(Handle.DangerousGetHandle(), DefaultAllocator.Pointer, &buffer, &lengths, &count));
            if (count == 0) return [];
            try
            {
                var names = new string[(int)count];
                nuint offset = 0;
                for (nuint i = 0; i < count; i++)
                {
                    names[(int)i] = Encoding.UTF8.GetString(buffer + offset, (int)lengths[i]);
                    offset += lengths[i];
                }
                return names;
            }
            finally
            {
                OrtStatus.Check(OrtApi.AllocatorFree(DefaultAllocator.Pointer, buffer));
                OrtStatus.Check(OrtApi.AllocatorFree(DefaultAllocator.Pointer, lengths));
            }
        }
    }

    /// <summary>
    /// The outputs of the last run, by name, as new OrtValues (in the memory they were bound to) that the
    /// caller owns and disposes. Feed them to the next run with <see cref="BindInput(string, OrtValue)"/>.
    /// Outputs bound to a device are bound afresh here: ONNX Runtime would otherwise write the next run's
    /// output into the same buffer, under the values just handed out (and under the next run's input
    /// when an output is fed back). Outputs bound to a pre-allocated value are written in place each run.
    /// </summary>
    public IReadOnlyDictionary<string, OrtValue> GetOutputs()
    {
        var names = OutputNames;
        nint* values;
        nuint count;
        OrtStatus.Check(OrtApi.GetBoundOutputValues(Handle.DangerousGetHandle(), DefaultAllocator.Pointer, &values, &count));
        if (count == 0) return new Dictionary<string, OrtValue>();
        var result = new Dictionary<string, OrtValue>((int)count, StringComparer.Ordinal);
        try
        {
            for (nuint i = 0; i < count; i++) result[names[(int)i]] = OrtValue.Own(values[i]);
            foreach (var (name, value) in result)
            {
                int type;
                OrtStatus.Check(OrtApi.GetValueType(value.Handle.DangerousGetHandle(), &type));
                if (type == 0) // ONNX_TYPE_UNKNOWN: an output bound to a device that no run has filled yet
                {
                    foreach (var v in result.Values) v.Dispose();
                    throw new InvalidOperationException(
                        $"output '{name}' has no value: run the session first (each run's device outputs can be taken once)");
                }
            }
        }
        finally
        {
            OrtStatus.Check(OrtApi.AllocatorFree(DefaultAllocator.Pointer, values));
        }
        foreach (var (name, device) in _outputDevices) BindToDevice(Session.OutputIndex(name), device);
        return result;
    }

    /// <summary>Throws a clear error if an input of the model is not bound.</summary>
    internal void CheckAllInputsBound()
    {
        for (int i = 0; i < Session.Inputs.Count; i++)
            if (!_inputs.ContainsKey(Session.Inputs[i].Name))
                throw new ArgumentException(Session.MissingInputMessage(i));
    }

    private static void Keep(Dictionary<string, OrtValue> bound, string name, OrtValue value)
    {
        Release(bound, name);
        bool added = false;
        value.Handle.DangerousAddRef(ref added);
        bound[name] = value;
    }

    private static void Release(Dictionary<string, OrtValue> bound, string name)
    {
        if (bound.Remove(name, out var old)) old.Handle.DangerousRelease();
    }

    public void Dispose()
    {
        if (Handle.IsClosed) return;
        Handle.Dispose();
        foreach (var v in _inputs.Values) v.Handle.DangerousRelease();
        foreach (var v in _outputs.Values) v.Handle.DangerousRelease();
        _inputs.Clear();
        _outputs.Clear();
        foreach (var v in _owned.Values) v.Dispose();
        _owned.Clear();
    }
}
