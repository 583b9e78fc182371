using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sd3Mesh.Onnx.Native;

/// <summary>Turns an OrtStatus* into an <see cref="OrtException"/> (and releases the status).</summary>
internal static unsafe class OrtStatus
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Check(nint status)
    {
        if (status != 0) Throw(status);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Throw(nint status) => throw ToException(status);

    /// <summary>The exception for a non-null status; the status is released.</summary>
    public static OrtException ToException(nint status)
    {
        try
        {
            var code = (OrtErrorCode)OrtApi.GetErrorCode(status);
            string message = Marshal.PtrToStringUTF8((nint)OrtApi.GetErrorMessage(status)) ?? "";
            return new OrtException(code, message);
        }
        finally
        {
            OrtApi.ReleaseStatus(status);
        }
    }
}
