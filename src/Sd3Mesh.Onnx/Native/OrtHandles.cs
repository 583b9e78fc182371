using System.Runtime.InteropServices;

namespace Sd3Mesh.Onnx.Native;

/// <summary>
/// Owns one ONNX Runtime object and releases it exactly once, with the matching Release function, even
/// when the owner is finalized instead of disposed (SafeHandle's guarantees: no release while a call
/// that uses the handle is in flight, no double release).
/// </summary>
internal abstract class OrtHandle : SafeHandle
{
    protected OrtHandle(nint handle) : base(0, ownsHandle: true) => SetHandle(handle);

    public override bool IsInvalid => handle == 0;
}

internal sealed unsafe class EnvHandle(nint h) : OrtHandle(h)
{
    protected override bool ReleaseHandle() { OrtApi.ReleaseEnv(handle); return true; }
}

/// <summary>
/// An OrtSession, plus what must outlive it: the environment reference it holds (the OrtEnv must outlive
/// every session) and the native name strings that runs in flight pass to ONNX Runtime.
/// </summary>
internal sealed unsafe class SessionHandle(nint h, EnvHandle env) : OrtHandle(h)
{
    /// <summary>Freed after ReleaseSession, i.e. after the last run in flight has ended.</summary>
    public IDisposable? Dependents { get; set; }

    protected override bool ReleaseHandle()
    {
        OrtApi.ReleaseSession(handle);
        Dependents?.Dispose();
        env.DangerousRelease();
        return true;
    }
}

internal sealed unsafe class SessionOptionsHandle(nint h) : OrtHandle(h)
{
    protected override bool ReleaseHandle() { OrtApi.ReleaseSessionOptions(handle); return true; }
}

/// <summary>
/// An OrtValue, plus what must outlive it when ONNX Runtime does not own its memory: the pin on a managed
/// buffer, or the owner of a native one. Both are let go only after ReleaseValue.
/// </summary>
internal sealed unsafe class ValueHandle(nint h, System.Buffers.MemoryHandle pin = default, IDisposable? owner = null) : OrtHandle(h)
{
    private System.Buffers.MemoryHandle _pin = pin;

    protected override bool ReleaseHandle()
    {
        OrtApi.ReleaseValue(handle);
        _pin.Dispose();
        owner?.Dispose();
        return true;
    }
}

internal sealed unsafe class RunOptionsHandle(nint h) : OrtHandle(h)
{
    protected override bool ReleaseHandle() { OrtApi.ReleaseRunOptions(handle); return true; }
}

internal sealed unsafe class MemoryInfoHandle(nint h) : OrtHandle(h)
{
    protected override bool ReleaseHandle() { OrtApi.ReleaseMemoryInfo(handle); return true; }
}

internal sealed unsafe class IoBindingHandle(nint h) : OrtHandle(h)
{
    protected override bool ReleaseHandle() { OrtApi.ReleaseIoBinding(handle); return true; }
}

internal sealed unsafe class TypeInfoHandle(nint h) : OrtHandle(h)
{
    protected override bool ReleaseHandle() { OrtApi.ReleaseTypeInfo(handle); return true; }
}

internal sealed unsafe class TensorTypeAndShapeInfoHandle(nint h) : OrtHandle(h)
{
    protected override bool ReleaseHandle() { OrtApi.ReleaseTensorTypeAndShapeInfo(handle); return true; }
}

internal sealed unsafe class CudaProviderOptionsHandle(nint h) : OrtHandle(h)
{
    protected override bool ReleaseHandle() { OrtApi.ReleaseCUDAProviderOptions(handle); return true; }
}
