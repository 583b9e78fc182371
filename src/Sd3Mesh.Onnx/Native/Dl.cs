using System.Runtime.InteropServices;

namespace Sd3Mesh.Onnx.Native;

/// <summary>
/// dlopen/dlerror from glibc. NativeLibrary.Load would do, but its exception buries the loader's reason
/// in a long generic text; the library-resolution message quotes dlerror() as it is.
/// </summary>
internal static unsafe partial class Dl
{
    private const int RtldNow = 2;

    [LibraryImport("libc.so.6", EntryPoint = "dlopen", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint DlOpen(string path, int flags);

    [LibraryImport("libc.so.6", EntryPoint = "dlerror")]
    private static partial byte* DlError();

    /// <summary>Loads <paramref name="path"/>; on failure returns 0 and the loader's reason.</summary>
    public static nint Open(string path, out string? error)
    {
        nint handle = DlOpen(path, RtldNow);
        error = handle == 0 ? Marshal.PtrToStringUTF8((nint)DlError()) ?? "unknown loader error" : null;
        return handle;
    }
}
