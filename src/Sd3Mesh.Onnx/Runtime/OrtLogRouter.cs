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
            foreach (var sink in sinks)
            {
                if (level < sink.Level) continue;
                string text = Utf8.Read(message) ?? "";
                string cat = Utf8.Read(category) ?? "";
                string id = Utf8.Read(logId) ?? "";
                if (sink.Logger is { } logger)
                    logger.Log(ToLogLevel(level), "[{OrtCategory}] {OrtLogId}: {OrtMessage}", cat, id, text);
                else
                    Console.Error.WriteLine($"[onnxruntime {level.ToString().ToLowerInvariant()}] {id}: {text}");
            }
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
