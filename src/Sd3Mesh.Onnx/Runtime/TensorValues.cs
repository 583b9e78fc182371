using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.ML.OnnxRuntime;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx;

/// <summary>
/// A managed <see cref="Tensor"/>'s bytes as an ONNX Runtime value in CPU memory, without copying: the
/// bytes stay pinned until this is disposed, and ONNX Runtime sees later writes to them.
/// </summary>
public sealed class PinnedTensorValue : IDisposable
{
    private MemoryHandle _pin;
    private int _disposed;

    private PinnedTensorValue(Tensor tensor, OrtValue value, MemoryHandle pin)
    {
        Tensor = tensor;
        Value = value;
        _pin = pin;
    }

    public Tensor Tensor { get; }
    public OrtValue Value { get; }

    public static unsafe PinnedTensorValue Wrap(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        _ = OrtRuntime.Env;
        var pin = tensor.Data.Pin();
        try
        {
            var value = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorValues.ElementType(tensor.DType),
                tensor.Shape.ToArray(), (nint)pin.Pointer, tensor.ByteCount);
            return new PinnedTensorValue(tensor, value, pin);
        }
        catch
        {
            pin.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Value.Dispose();
        _pin.Dispose();
    }
}

/// <summary>
/// Conversions between ONNX Runtime values and Sd3Mesh tensors, and values in a device's memory. DType's
/// numbers are ONNX's element type codes, which ONNX Runtime's <see cref="TensorElementType"/> shares.
/// </summary>
public static class TensorValues
{
    private static readonly ConcurrentDictionary<int, OrtMemoryInfo> s_cudaMemory = new();

    public static TensorElementType ElementType(DType dtype) =>
        Enum.IsDefined(dtype) ? (TensorElementType)(int)dtype
            : throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"{dtype.Name()} is not a tensor element type Sd3Mesh supports");

    public static DType ToDType(TensorElementType type) =>
        Enum.IsDefined((DType)(int)type) ? (DType)(int)type
            : throw new NotSupportedException($"ONNX element type {type} is not one Sd3Mesh handles");

    /// <summary>The value's element type.</summary>
    public static DType DTypeOf(OrtValue value) => ToDType(TypeAndShape(value).ElementDataType);

    /// <summary>The value's dimensions.</summary>
    public static TensorShape ShapeOf(OrtValue value) => new(TypeAndShape(value).Shape);

    /// <summary>E.g. "float32 [2, 4]".</summary>
    public static string Describe(OrtValue value)
    {
        var info = TypeAndShape(value);
        return $"{ToDType(info.ElementDataType).Name()} {new TensorShape(info.Shape)}";
    }

    private static OrtTensorTypeAndShapeInfo TypeAndShape(OrtValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (!value.IsTensor) throw new NotSupportedException($"value is of ONNX type {value.OnnxType}, not a tensor; Sd3Mesh handles tensors only");
        return value.GetTensorTypeAndShape();
    }

    /// <summary>True when the value's memory is CPU memory (readable in place).</summary>
    public static bool IsOnCpu(OrtValue value) => value.GetTensorMemoryInfo().GetDeviceType() == OrtMemoryInfoDeviceType.CPU;

    /// <summary>The memory of <paramref name="device"/> as ONNX Runtime names it: CPU, or "Cuda" with the GPU's id.</summary>
    public static OrtMemoryInfo MemoryOf(Device device) => device.IsCuda
        ? s_cudaMemory.GetOrAdd(device.Index, i => new OrtMemoryInfo("Cuda", OrtAllocatorType.DeviceAllocator, i, OrtMemType.Default))
        : OrtMemoryInfo.DefaultInstance;

    /// <summary>A copy of a CPU value in a new managed tensor (a device value: see <see cref="DeviceCopies.ToHost"/>).</summary>
    public static Tensor ToTensor(OrtValue value)
    {
        var info = TypeAndShape(value);
        if (!IsOnCpu(value))
            throw new InvalidOperationException($"the value lives in {value.GetTensorMemoryInfo().Name} memory, not CPU memory: copy it with DeviceCopies.ToHost");
        var tensor = Tensor.Zeros(ToDType(info.ElementDataType), new TensorShape(info.Shape));
        value.GetTensorMutableRawData().CopyTo(tensor.Data.Span);
        return tensor;
    }

    /// <summary>A new CPU value owned by ONNX Runtime, holding a copy of <paramref name="tensor"/>.</summary>
    public static OrtValue CopyToCpuValue(Tensor tensor)
    {
        _ = OrtRuntime.Env;
        var value = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, ElementType(tensor.DType), tensor.Shape.ToArray());
        tensor.Data.Span.CopyTo(value.GetTensorMutableRawData());
        return value;
    }
}
