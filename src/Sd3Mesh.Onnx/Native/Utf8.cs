using System.Runtime.InteropServices;
using System.Text;

namespace Sd3Mesh.Onnx.Native;

/// <summary>
/// A NUL-terminated UTF-8 copy of a string in native memory, for the C API's const char* parameters.
/// Freed on Dispose; long-lived copies (input/output names) are owned by the object that uses them.
/// </summary>
internal readonly unsafe struct Utf8 : IDisposable
{
    public readonly byte* Pointer;

    public Utf8(string value)
    {
        int length = Encoding.UTF8.GetByteCount(value);
        Pointer = (byte*)NativeMemory.Alloc((nuint)length + 1);
        Encoding.UTF8.GetBytes(value, new Span<byte>(Pointer, length));
        Pointer[length] = 0;
    }

    public void Dispose()
    {
        if (Pointer != null) NativeMemory.Free(Pointer);
    }

    /// <summary>Reads a string ONNX Runtime returned; null stays null.</summary>
    public static string? Read(byte* value) => value == null ? null : Marshal.PtrToStringUTF8((nint)value);

    /// <summary>Reads a string allocated by ONNX Runtime's default allocator, then frees it there.</summary>
    public static string ReadAndFree(byte* value)
    {
        try
        {
            return Marshal.PtrToStringUTF8((nint)value) ?? "";
        }
        finally
        {
            OrtStatus.Check(OrtApi.AllocatorFree(DefaultAllocator.Pointer, value));
        }
    }
}

/// <summary>ONNX Runtime's default CPU allocator (owned by ONNX Runtime: never released).</summary>
internal static unsafe class DefaultAllocator
{
    public static readonly nint Pointer = Create();

    private static nint Create()
    {
        nint allocator;
        OrtStatus.Check(OrtApi.GetAllocatorWithDefaultOptions(&allocator));
        return allocator;
    }
}
