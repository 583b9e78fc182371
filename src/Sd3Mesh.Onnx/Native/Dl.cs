using System.Runtime.InteropServices;

namespace Sd3Mesh.Onnx.Native;

/// <summary>
/// dlopen/dlerror from glibc, to learn why a library does not load: NativeLibrary.TryLoad only says that
/// it failed, and NativeLibrary.Load's exception buries the loader's reason in a long generic text. Both
/// entry points are resolved up front: resolving dlerror lazily (a dlsym call) would clear its error.
/// </summary>
internal static unsafe class Dl
{
    private const int RtldNow = 2;
    private static readonly delegate* unmanaged<byte*, int, nint> s_dlopen;
    private static readonly delegate* unmanaged<byte*> s_dlerror;

    static Dl()
    {
        nint libc = NativeLibrary.Load("libc.so.6");
        s_dlopen = (delegate* unmanaged<byte*, int, nint>)NativeLibrary.GetExport(libc, "dlopen");
        s_dlerror = (delegate* unmanaged<byte*>)NativeLibrary.GetExport(libc, "dlerror");
    }

    /// <summary>Loads <paramref name="path"/>; on failure returns 0 and the loader's reason.</summary>
    public static nint Open(string path, out string? error)
    {
        nint handle;
        string? reason;
        using (var p = new Utf8(path))
        {
            s_dlerror(); // clear any stale error
            handle = s_dlopen(p.Pointer, RtldNow);
            reason = handle == 0 ? Marshal.PtrToStringUTF8((nint)s_dlerror()) : null;
        }
        error = handle == 0 ? reason ?? "unknown loader error" : null;
        return handle;
    }
}
