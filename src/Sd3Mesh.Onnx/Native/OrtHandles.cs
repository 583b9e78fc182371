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

internal sealed unsafe class SessionHandle(nint h) : OrtHandle(h)
{
    protected override bool ReleaseHandle() { OrtApi.ReleaseSession(handle); return true; }
}

internal sealed unsafe class SessionOptionsHandle(nint h) : OrtHandle(h)
{
    protected override bool ReleaseHandle() { OrtApi.ReleaseSessionOptions(handle); return true; }
}

internal sealed unsafe class ValueHandle(nint h) : OrtHandle(h)
{
    protected override bool ReleaseHandle() { OrtApi.ReleaseValue(handle); return true; }
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
