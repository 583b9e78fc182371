using System.Runtime.InteropServices;

namespace Sd3Mesh.Cli.Cluster;

/// <summary>
/// Other processes by id, as `cluster up` and its silos need them: signals (Process.Kill can only send SIGKILL), and
/// noticing that a supervisor has ended, even one killed with SIGKILL, which can neither stop its children nor be
/// waited on by them.
/// </summary>
internal static class PosixProcesses
{
    public const int SigTerm = 15;
    private const int NoSuchProcess = 3; // ESRCH

    [DllImport("libc", EntryPoint = "getppid")]
    private static extern int GetParentId();

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/>; false when the process is gone.</summary>
    public static bool Signal(int pid, int signal) => Kill(pid, signal) == 0;

    /// <summary>Whether process <paramref name="pid"/> exists now (signal 0 checks without sending anything).</summary>
    public static bool Exists(int pid) => pid > 0 && (Kill(pid, 0) == 0 || Marshal.GetLastPInvokeError() != NoSuchProcess);

    /// <summary>
    /// Completes when <paramref name="pid"/> has ended. When it is this process's parent, its end shows as a new parent
    /// (the orphan is adopted), which a reused process id cannot hide; any other process is polled for existence.
    /// </summary>
    public static async Task WaitForExitAsync(int pid, CancellationToken cancellationToken)
    {
        bool parent = GetParentId() == pid;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            if (parent ? GetParentId() != pid : !Exists(pid))
                return;
    }
}
