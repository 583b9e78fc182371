using Grpc.Core;

namespace Sd3Mesh.Cli;

/// <summary>
/// The exit codes of every `sd3mesh` command (README "Exit codes"): one rule, applied by each command and by
/// <see cref="CliApp"/> for what escapes them.
/// </summary>
public static class ExitCodes
{
    /// <summary>The command did what it was asked.</summary>
    public const int Ok = 0;
    /// <summary>The work failed: a job failed, a self-check failed, a file could not be written, an unexpected error.</summary>
    public const int Failed = 1;
    /// <summary>
    /// The command line cannot run as given: unknown option or unparsable value, a value out of range or a bad
    /// combination, a file or model folder that is missing or unreadable, a device this machine cannot use, a
    /// request the server refused as invalid, an unknown job id, a missing or wrong API token. Nothing was done.
    /// </summary>
    public const int Usage = 2;
    /// <summary>The server could not be reached (commands with --server).</summary>
    public const int Unreachable = 3;
    /// <summary>Interrupted (Ctrl+C, SIGINT, SIGTERM), or the job was cancelled. `serve` stops gracefully on these and exits 0.</summary>
    public const int Interrupted = 130;

    /// <summary>The exit code for a call to a server that ended with <paramref name="code"/>.</summary>
    public static int FromStatus(StatusCode code) => code switch
    {
        StatusCode.OK => Ok,
        StatusCode.InvalidArgument or StatusCode.NotFound or StatusCode.FailedPrecondition or StatusCode.OutOfRange
            or StatusCode.Unauthenticated or StatusCode.PermissionDenied => Usage,
        StatusCode.Unavailable => Unreachable,
        StatusCode.Cancelled => Interrupted,
        _ => Failed,
    };
}
