using System.Collections.Immutable;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Sd3Mesh.Onnx.Native;

namespace Sd3Mesh.Onnx;

/// <summary>
/// ONNX Runtime's custom logging function: forwards each native log message to the ILoggers of the live
/// <see cref="OrtEnvironment"/>s (ONNX Runtime has one environment, hence one logger, per process).
/// Called on ONNX Runtime's threads; never throws back into native code.
/// </summary>
internal static unsafe class OrtLogRouter
{
    internal sealed record Sink(ILogger? Logger, OrtLogLevel Level);

    private static ImmutableArray<Sink> s_sinks = [];

    public static delegate* unmanaged<nint, int, byte*, byte*, byte*, byte*, void> Callback => &OnLog;

    public static void Add(Sink sink) => ImmutableInterlocked.Update(ref s_sinks, s => s.Add(sink));

    public static void Remove(Sink sink) => ImmutableInterlocked.Update(ref s_sinks, s => s.Remove(sink));

    /// <summary>The least severe level any sink wants (what ONNX Runtime must still emit).</summary>
    public static OrtLogLevel MinimumLevel
    {
        get
        {
            var sinks = s_sinks;
            return sinks.IsEmpty ? OrtLogLevel.Warning : sinks.Min(s => s.Level);
        }
    }

    [UnmanagedCallersOnly]
    private static void OnLog(nint param, int severity, byte* category, byte* logId, byte* codeLocation, byte* message)
    {
        try
        {
            var level = (OrtLogLevel)severity;
            var sinks = s_sinks;
            string? text = null, id = null, cat = null;
            bool toStandardError = false;
            foreach (var sink in sinks)
            {
                if (level < sink.Level) continue;
                if (sink.Logger is not { } logger)
                {
                    toStandardError = true; // once, however many logger-less environments are alive
                    continue;
                }
                text ??= Utf8.Read(message) ?? "";
                cat ??= Utf8.Read(category) ?? "";
                id ??= Utf8.Read(logId) ?? "";
                logger.Log(ToLogLevel(level), "[{OrtCategory}] {OrtLogId}: {OrtMessage}", cat, id, text);
            }
            if (toStandardError)
                Console.Error.WriteLine($"[onnxruntime {level.ToString().ToLowerInvariant()}] {id ?? Utf8.Read(logId)}: {text ?? Utf8.Read(message)}");
        }
        catch
        {
            // A logging failure must not unwind into ONNX Runtime's frames.
        }
    }

    public static LogLevel ToLogLevel(OrtLogLevel level) => level switch
    {
        OrtLogLevel.Verbose => LogLevel.Trace,
        OrtLogLevel.Info => LogLevel.Information,
        OrtLogLevel.Warning => LogLevel.Warning,
        OrtLogLevel.Error => LogLevel.Error,
        _ => LogLevel.Critical,
    };
}
