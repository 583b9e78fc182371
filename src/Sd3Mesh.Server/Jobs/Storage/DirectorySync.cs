using System.Runtime.InteropServices;

namespace Sd3Mesh.Server.Jobs.Storage;

/// <summary>
/// fsync(2) of a directory, which .NET has no API for: a file renamed into a folder is durable across a power loss
/// only once the folder's entry is on disk too. A no-op off Linux and macOS.
/// </summary>
public static partial class DirectorySync
{
    private const int ReadOnly = 0, Directory = 0x10000; // O_RDONLY | O_DIRECTORY (Linux)

    /// <summary>Flushes <paramref name="folder"/>'s entries to disk; IOException naming the folder and the errno.</summary>
    public static void Flush(string folder)
    {
        if (!OperatingSystem.IsLinux()) return;
        int fd = Open(folder, ReadOnly | Directory);
        if (fd < 0) throw new IOException($"cannot open the folder {folder} to flush it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (Fsync(fd) != 0) throw new IOException($"cannot flush the folder {folder} to disk (errno {Marshal.GetLastPInvokeError()})");
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
