using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Sd3Mesh.Onnx;

/// <summary>
/// The process's ONNX Runtime (official managed API, natives from the package restore): its version, its
/// execution providers, where its native library was loaded from, and its one environment (OrtEnv), created
/// here first so that ONNX Runtime's log messages go to <see cref="Logger"/> (or, without one, messages at
/// warning and above to standard error). Every session of Sd3Mesh is created through this environment.
/// </summary>
public static class OrtRuntime
{
    /// <summary>The ONNX Runtime version the package restore brings (and the CUDA provider's requirements below are for).</summary>
    public const string ExpectedVersion = "1.32.0";

    public const string LoggerCategory = "OnnxRuntime";

    private static readonly Lazy<OrtEnv> s_env = new(CreateEnv, LazyThreadSafetyMode.ExecutionAndPublication);
    private static volatile ILogger? s_logger;
    private static readonly DOrtLoggingFunction s_log = Log; // held here: native code keeps calling it

    /// <summary>ONNX Runtime's environment, created on first use with Sd3Mesh's log routing.</summary>
    public static OrtEnv Env => s_env.Value;

    /// <summary>The library's version string, e.g. "1.32.0".</summary>
    public static string Version => Env.GetVersionString();

    /// <summary>The execution providers built into the library (the CUDA one is listed even without a GPU).</summary>
    public static IReadOnlyList<string> Providers => Env.GetAvailableProviders();

    /// <summary>
    /// Where ONNX Runtime's messages go: an ILogger (category <see cref="LoggerCategory"/>), or null for
    /// standard error. Can be changed at any time.
    /// </summary>
    public static ILogger? Logger
    {
        get => s_logger;
        set => s_logger = value;
    }

    /// <summary>The least severe message ONNX Runtime emits (default: warning).</summary>
    public static OrtLoggingLevel LogLevel
    {
        get => Env.EnvLogLevel;
        set => Env.EnvLogLevel = value;
    }

    /// <summary>The loaded libonnxruntime.so's path (from the process's memory map), or null before it is loaded or off Linux.</summary>
    public static string? LibraryPath
    {
        get
        {
            _ = Env;
            return LoadedLibrary("libonnxruntime.so");
        }
    }

    /// <summary>The folder of the loaded libonnxruntime.so, where ONNX Runtime looks for its provider libraries.</summary>
    public static string LibraryDirectory => Path.GetDirectoryName(LibraryPath) ?? AppContext.BaseDirectory;

    /// <summary>The path of a loaded shared library whose file name starts with <paramref name="prefix"/>, from /proc/self/maps.</summary>
    internal static string? LoadedLibrary(string prefix)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                int slash = line.IndexOf('/', StringComparison.Ordinal);
                if (slash < 0) continue;
                string path = line[slash..];
                if (Path.GetFileName(path).StartsWith(prefix, StringComparison.Ordinal)) return path;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }

    private static OrtEnv CreateEnv()
    {
        var options = new EnvironmentCreationOptions
        {
            logId = "sd3mesh",
            logLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING,
            loggingFunction = s_log,
        };
        return OrtEnv.CreateInstanceWithOptions(ref options);
    }

    /// <summary>Called on ONNX Runtime's threads; never throws back into native code.</summary>
    private static void Log(IntPtr param, OrtLoggingLevel severity, string category, string logId, string codeLocation, string message)
    {
        try
        {
            if (s_logger is { } logger)
                logger.Log(ToLogLevel(severity), "[{OrtCategory}] {OrtLogId}: {OrtMessage}", category, logId, message);
            else
                Console.Error.WriteLine($"[onnxruntime {Severity(severity)}] {logId}: {message}");
        }
        catch
        {
            // A logging failure must not unwind into ONNX Runtime's frames.
        }
    }

    private static string Severity(OrtLoggingLevel level) => level switch
    {
        OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE => "verbose",
        OrtLoggingLevel.ORT_LOGGING_LEVEL_INFO => "info",
        OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING => "warning",
        OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR => "error",
        _ => "fatal",
    };

    public static LogLevel ToLogLevel(OrtLoggingLevel level) => level switch
    {
        OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE => Microsoft.Extensions.Logging.LogLevel.Trace,
        OrtLoggingLevel.ORT_LOGGING_LEVEL_INFO => Microsoft.Extensions.Logging.LogLevel.Information,
        OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING => Microsoft.Extensions.Logging.LogLevel.Warning,
        OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR => Microsoft.Extensions.Logging.LogLevel.Error,
        _ => Microsoft.Extensions.Logging.LogLevel.Critical,
    };
}
