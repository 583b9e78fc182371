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
    /// <summary>A bound value the binding keeps alive; <c>Owned</c> when the binding wrapped it from a managed tensor.</summary>
    private readonly record struct Held(OrtValue Value, bool Owned);

    private readonly Dictionary<string, Held> _inputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Held> _outputs = new(StringComparer.Ordinal);
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
        BindInput(name, value, owned: false);
    }

    /// <summary>Binds an input to a managed tensor (wrapped without copying; pinned while bound).</summary>
    public void BindInput(string name, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var value = OrtValue.FromTensor(tensor);
        try
        {
            BindInput(name, value, owned: true);
        }
        catch
        {
            value.Dispose();
            throw;
        }
    }

    private void BindInput(string name, OrtValue value, bool owned)
    {
        int index = Session.CheckInput(name, value.DType, value.Shape);
        OrtStatus.Check(OrtApi.BindInput(Handle.DangerousGetHandle(), Session.InputNamePointer(index), value.Handle.DangerousGetHandle()));
        Hold(_inputs, name, value, owned);
    }

    /// <summary>Binds an output to a pre-allocated value of the right type and shape.</summary>
    public void BindOutput(string name, OrtValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        int index = Session.CheckOutput(name, value.DType, value.Shape);
        OrtStatus.Check(OrtApi.BindOutput(Handle.DangerousGetHandle(), Session.OutputNamePointer(index), value.Handle.DangerousGetHandle()));
        Hold(_outputs, name, value, owned: false);
        _outputDevices.Remove(name);
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
        BindToDevice(index, device);
        Release(_outputs, name);
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
        ReleaseAll(_inputs);
    }

    public void ClearOutputs()
    {
        OrtApi.ClearBoundOutputs(Handle.DangerousGetHandle());
        ReleaseAll(_outputs);
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
                    throw new InvalidOperationException(
                        $"output '{name}' has no value: run the session first (each run's device outputs can be taken once)");
            }
        }
        catch
        {
            foreach (var v in result.Values) v.Dispose();
            throw;
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

    /// <summary>Keeps <paramref name="value"/> alive while bound (called once ONNX Runtime has bound it), letting go of the value it replaces.</summary>
    private static void Hold(Dictionary<string, Held> held, string name, OrtValue value, bool owned)
    {
        bool added = false;
        value.Handle.DangerousAddRef(ref added);
        Release(held, name);
        held[name] = new Held(value, owned);
    }

    /// <summary>Lets go of what is bound to <paramref name="name"/>: a tensor wrapped here is unpinned now, not when the binding goes.</summary>
    private static void Release(Dictionary<string, Held> held, string name)
    {
        if (held.Remove(name, out var old)) LetGo(old);
    }

    private static void ReleaseAll(Dictionary<string, Held> held)
    {
        foreach (var h in held.Values) LetGo(h);
        held.Clear();
    }

    private static void LetGo(Held held)
    {
        held.Value.Handle.DangerousRelease();
        if (held.Owned) held.Value.Dispose();
    }

    public void Dispose()
    {
        if (Handle.IsClosed) return;
        Handle.Dispose();
        ReleaseAll(_inputs);
        ReleaseAll(_outputs);
    }
}
