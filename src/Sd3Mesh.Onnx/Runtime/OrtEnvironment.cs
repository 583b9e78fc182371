using Microsoft.Extensions.Logging;
using Sd3Mesh.Onnx.Native;

namespace Sd3Mesh.Onnx;

/// <summary>
/// ONNX Runtime's environment (OrtEnv): needed to create sessions and to list EP devices.
/// ONNX Runtime keeps a single environment per process; each <see cref="Create"/> returns a handle to it,
/// and the native environment is released when the last handle is disposed and no session uses it.
/// ONNX Runtime's log messages go to the <see cref="ILoggerFactory"/> given here (category "OnnxRuntime"),
/// or, without one, messages at <c>logLevel</c> and above go to standard error.
/// Thread-safe: create and dispose from any thread; sessions may share one environment.
/// </summary>
public sealed unsafe class OrtEnvironment : IDisposable
{
    public const string LoggerCategory = "OnnxRuntime";

    private static readonly Lock s_lock = new();
    private static EnvHandle? s_native;
    private static int s_users;

    private readonly OrtLogRouter.Sink _sink;
    private int _disposed;

    private OrtEnvironment(EnvHandle native, OrtLogRouter.Sink sink)
    {
        Native = native;
        _sink = sink;
    }

    internal EnvHandle Native { get; }

    public OrtLibrary Library => OrtLibrary.Shared;

    /// <summary>
    /// Gets the process's ONNX Runtime environment. <paramref name="logLevel"/> is the least severe ONNX Runtime
    /// message forwarded to <paramref name="loggerFactory"/>. Throws <see cref="OrtLibraryException"/>
    /// when the native library cannot be loaded.
    /// </summary>
    public static OrtEnvironment Create(ILoggerFactory? loggerFactory = null, OrtLogLevel logLevel = OrtLogLevel.Warning,
        string logId = "sd3mesh")
    {
        _ = OrtLibrary.Shared; // the library's own clear error, before anything touches the function table
        var sink = new OrtLogRouter.Sink(loggerFactory?.CreateLogger(LoggerCategory), logLevel);
        lock (s_lock)
        {
            OrtLogRouter.Add(sink);
            try
            {
                if (s_native is null)
                {
                    nint env;
                    using (var id = new Utf8(logId))
                        OrtStatus.Check(OrtApi.CreateEnvWithCustomLogger(OrtLogRouter.Callback, 0, (int)OrtLogRouter.MinimumLevel, id.Pointer, &env));
                    s_native = new EnvHandle(env);
                }
                // Also after creating: ORT hands back its existing OrtEnv (with its old level) while a session
                // of an earlier environment still holds it.
                OrtStatus.Check(OrtApi.UpdateEnvWithCustomLogLevel(s_native.DangerousGetHandle(), (int)OrtLogRouter.MinimumLevel));
            }
            catch
            {
                OrtLogRouter.Remove(sink);
                throw;
            }
            s_users++;
            return new OrtEnvironment(s_native, sink);
        }
    }

    /// <summary>The devices offered by ONNX Runtime's execution providers (OrtApi::GetEpDevices).</summary>
    public IReadOnlyList<EpDeviceInfo> EpDevices => EpDeviceInfo.List(this);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        lock (s_lock)
        {
            OrtLogRouter.Remove(_sink);
            if (--s_users == 0)
            {
                // Sessions hold their own reference to the handle, so the OrtEnv outlives them.
                s_native!.Dispose();
                s_native = null;
            }
            else if (s_native is not null && !s_native.IsClosed)
            {
                OrtStatus.Check(OrtApi.UpdateEnvWithCustomLogLevel(s_native.DangerousGetHandle(), (int)OrtLogRouter.MinimumLevel));
            }
        }
    }

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
