using System.Runtime.InteropServices;
using Sd3Mesh.Onnx.Native;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx;

/// <summary>
/// A tensor as ONNX Runtime holds it (OrtValue), in CPU memory or on a device.
/// <list type="bullet">
/// <item><see cref="FromTensor"/> wraps a managed tensor's bytes without copying: they stay pinned until
/// this value is disposed (the tensor's later writes are visible to ONNX Runtime).</item>
/// <item><see cref="GetSpan{T}"/> reads a CPU value in place (ONNX Runtime's buffer, valid until Dispose);
/// <see cref="ToTensor"/> copies into a new managed tensor, from CPU or device memory.</item>
/// </list>
/// Disposing is required to free native memory promptly (a finalizer is the safety net). A value may be
/// read from several threads at once. Runs and bindings hold the values they use, so disposing one of
/// those meanwhile is safe; the members here are not guarded against a concurrent Dispose (a span from
/// GetSpan points into the value's buffer), so dispose a value only when no other thread reads it.
/// </summary>
public sealed unsafe class OrtValue : IDisposable
{
    private DType _dtype;
    private TensorShape _shape;
    private bool _typeKnown;
    private string? _location;
    private bool _isOnCpu;
    private Device? _device;

    private OrtValue(ValueHandle handle) => Handle = handle;

    internal ValueHandle Handle { get; }

    /// <summary>Element type.</summary>
    public DType DType { get { EnsureType(); return _dtype; } }

    /// <summary>Dimensions.</summary>
    public TensorShape Shape { get { EnsureType(); return _shape; } }

    public long ElementCount => Shape.ElementCount;

    /// <summary>"cpu" for CPU-accessible memory, else the device memory's name and id, e.g. "WebGPU_Buf:0".</summary>
    public string Location { get { EnsureLocation(); return _location!; } }

    public bool IsOnCpu { get { EnsureLocation(); return _isOnCpu; } }

    /// <summary>Wraps a managed tensor without copying; its bytes stay pinned until this value is disposed.</summary>
    public static OrtValue FromTensor(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        _ = OrtLibrary.Shared;
        var pin = tensor.Data.Pin();
        try
        {
            return Create(pin.Pointer, tensor.ByteCount, tensor.DType, tensor.Shape, pin, null);
        }
        catch
        {
            pin.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Wraps CPU memory that the caller manages. <paramref name="owner"/>, if given, is disposed after the
    /// value is released (e.g. the object that frees the buffer).
    /// </summary>
    public static OrtValue FromNative(nint data, long byteCount, DType dtype, TensorShape shape, IDisposable? owner = null)
    {
        _ = OrtLibrary.Shared;
        long needed = checked(shape.ElementCount * dtype.SizeOf());
        if (byteCount < needed)
            throw new ArgumentException($"a {dtype.Name()} tensor of shape {shape} needs {needed} bytes, the buffer has {byteCount}", nameof(byteCount));
        if (data == 0 && needed > 0) throw new ArgumentNullException(nameof(data));
        return Create((void*)data, byteCount, dtype, shape, default, owner);
    }

    /// <summary>A new CPU tensor allocated by ONNX Runtime (contents undefined).</summary>
    public static OrtValue Allocate(DType dtype, TensorShape shape)
    {
        _ = OrtLibrary.Shared;
        CheckDType(dtype);
        var dims = shape.ToArray();
        nint raw;
        fixed (long* d = dims)
            OrtStatus.Check(OrtApi.CreateTensorAsOrtValue(DefaultAllocator.Pointer, d, (nuint)dims.Length, (int)dtype, &raw));
        return Known(new ValueHandle(raw), dtype, shape);
    }

    private static OrtValue Create(void* data, long byteCount, DType dtype, TensorShape shape, System.Buffers.MemoryHandle pin, IDisposable? owner)
    {
        CheckDType(dtype);
        var dims = shape.ToArray();
        nint raw;
        fixed (long* d = dims)
            OrtStatus.Check(OrtApi.CreateTensorWithDataAsOrtValue(MemoryInfos.Cpu.DangerousGetHandle(), data, (nuint)byteCount,
                d, (nuint)dims.Length, (int)dtype, &raw));
        return Known(new ValueHandle(raw, pin, owner), dtype, shape);
    }

    private static OrtValue Known(ValueHandle handle, DType dtype, TensorShape shape) =>
        new(handle) { _dtype = dtype, _shape = shape, _typeKnown = true, _location = "cpu", _isOnCpu = true };

    /// <summary>Takes ownership of an OrtValue* that ONNX Runtime returned.</summary>
    internal static OrtValue Own(nint raw) => new(new ValueHandle(raw));

    private static void CheckDType(DType dtype)
    {
        if (!Enum.IsDefined(dtype)) throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"{dtype.Name()} is not a tensor element type Sd3Mesh supports");
    }

    /// <summary>The elements of a CPU value, in ONNX Runtime's buffer (no copy). Valid until this value is disposed.</summary>
    public Span<T> GetSpan<T>() where T : unmanaged
    {
        var asked = DTypes.Of<T>();
        if (asked != DType) throw new InvalidOperationException($"value holds {DType.Name()} elements, not {asked.Name()}");
        if (!IsOnCpu) throw new InvalidOperationException($"value lives in {Location}, not CPU memory: use ToTensor() to copy it out");
        long count = ElementCount;
        if (count > int.MaxValue) throw new InvalidOperationException($"value has {count} elements, more than a span holds");
        return new Span<T>(DataPointer(), (int)count);
    }

    /// <summary>The bytes of a CPU value, in place.</summary>
    public Span<byte> GetBytes()
    {
        if (!IsOnCpu) throw new InvalidOperationException($"value lives in {Location}, not CPU memory: use ToTensor() to copy it out");
        long bytes = checked(ElementCount * DType.SizeOf());
        if (bytes > int.MaxValue) throw new InvalidOperationException($"value has {bytes} bytes, more than a span holds");
        return new Span<byte>(DataPointer(), (int)bytes);
    }

    /// <summary>
    /// A copy in a new managed tensor. Device values are copied by ONNX Runtime itself (an Identity session
    /// on that device with the output in CPU memory, see <see cref="DeviceDownloads"/>).
    /// </summary>
    public Tensor ToTensor()
    {
        var tensor = Tensor.Zeros(DType, Shape);
        if (IsOnCpu)
        {
            GetBytes().CopyTo(tensor.Data.Span);
            return tensor;
        }
        var device = _device ?? throw new NotSupportedException($"cannot copy a value out of {Location}: no Sd3Mesh device uses that memory");
        DeviceDownloads.CopyToCpu(this, device, tensor);
        return tensor;
    }

    /// <summary>Size of the tensor's data as ONNX Runtime computes it (GetTensorSizeInBytes).</summary>
    public long SizeInBytes
    {
        get
        {
            ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
            nuint size;
            OrtStatus.Check(OrtApi.GetTensorSizeInBytes(Handle.DangerousGetHandle(), &size));
            return (long)size;
        }
    }

    internal void* DataPointer()
    {
        ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
        void* data;
        OrtStatus.Check(OrtApi.GetTensorMutableData(Handle.DangerousGetHandle(), &data));
        return data;
    }

    private void EnsureType()
    {
        if (_typeKnown) return;
        ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
        nint raw = Handle.DangerousGetHandle();
        int onnxType;
        OrtStatus.Check(OrtApi.GetValueType(raw, &onnxType));
        if (onnxType != 1) throw new NotSupportedException($"value is of ONNX type {onnxType}, not a tensor; Sd3Mesh handles tensors only");
        nint info;
        OrtStatus.Check(OrtApi.GetTensorTypeAndShape(raw, &info));
        using var infoHandle = new TensorTypeAndShapeInfoHandle(info);
        var (dtype, dims) = TypeAndShape.Read(info);
        _shape = new TensorShape(dims);
        _dtype = dtype;
        _typeKnown = true;
    }

    private void EnsureLocation()
    {
        if (_location is not null) return;
        ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
        nint info; // owned by the value
        OrtStatus.Check(OrtApi.GetTensorMemoryInfo(Handle.DangerousGetHandle(), &info));
        string location = MemoryInfos.Describe(info, out bool isCpu, out _device);
        _isOnCpu = isCpu;
        _location = location;
    }

    public void Dispose() => Handle.Dispose();

    public override string ToString() => Handle.IsClosed ? "OrtValue(disposed)" : $"OrtValue({DType.Name()}, {Shape}, {Location})";
}

/// <summary>Reads an OrtTensorTypeAndShapeInfo.</summary>
internal static unsafe class TypeAndShape
{
    public static (DType DType, long[] Dims) Read(nint info)
    {
        int elementType;
        nuint rank;
        OrtStatus.Check(OrtApi.GetTensorElementType(info, &elementType));
        OrtStatus.Check(OrtApi.GetDimensionsCount(info, &rank));
        var dims = new long[(int)rank];
        fixed (long* d = dims) OrtStatus.Check(OrtApi.GetDimensions(info, d, rank));
        return ((DType)elementType, dims);
    }

    public static string?[] ReadSymbolic(nint info, int rank)
    {
        var names = new nint[rank];
        fixed (nint* n = names) OrtStatus.Check(OrtApi.GetSymbolicDimensions(info, (byte**)n, (nuint)rank));
        return Array.ConvertAll(names, p => p == 0 ? null : Marshal.PtrToStringUTF8(p) is { Length: > 0 } s ? s : null);
    }
}
