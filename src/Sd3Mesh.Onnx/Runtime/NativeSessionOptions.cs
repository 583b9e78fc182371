using Sd3Mesh.Onnx.Native;

namespace Sd3Mesh.Onnx;

/// <summary>Builds ONNX Runtime's OrtSessionOptions from a <see cref="SessionOptions"/>.</summary>
internal static unsafe class NativeSessionOptions
{
    public static SessionOptionsHandle Create(SessionOptions settings)
    {
        settings.Validate();
        ExecutionProviders.CheckSelectable(settings.Device);
        nint raw;
        OrtStatus.Check(OrtApi.CreateSessionOptions(&raw));
        var options = new SessionOptionsHandle(raw);
        try
        {
            if (settings.IntraOpThreads > 0) OrtStatus.Check(OrtApi.SetIntraOpNumThreads(raw, settings.IntraOpThreads));
            if (settings.InterOpThreads > 0) OrtStatus.Check(OrtApi.SetInterOpNumThreads(raw, settings.InterOpThreads));
            OrtStatus.Check(OrtApi.SetSessionGraphOptimizationLevel(raw, (int)settings.GraphOptimizationLevel));
            OrtStatus.Check(settings.EnableMemoryPattern ? OrtApi.EnableMemPattern(raw) : OrtApi.DisableMemPattern(raw));
            OrtStatus.Check(settings.EnableCpuArena ? OrtApi.EnableCpuMemArena(raw) : OrtApi.DisableCpuMemArena(raw));
            if (settings.ProfilingFilePrefix is { } prefix)
                using (var p = new Utf8(prefix)) OrtStatus.Check(OrtApi.EnableProfiling(raw, p.Pointer));
            foreach (var (name, value) in settings.FreeDimensionOverrides)
                using (var n = new Utf8(name)) OrtStatus.Check(OrtApi.AddFreeDimensionOverrideByName(raw, n.Pointer, value));
            foreach (var (denotation, value) in settings.FreeDimensionOverridesByDenotation)
                using (var d = new Utf8(denotation)) OrtStatus.Check(OrtApi.AddFreeDimensionOverride(raw, d.Pointer, value));
            foreach (var (key, value) in settings.ConfigEntries)
                using (var k = new Utf8(key))
                using (var v = new Utf8(value))
                    OrtStatus.Check(OrtApi.AddSessionConfigEntry(raw, k.Pointer, v.Pointer));
            if (settings.LogId is { } logId)
                using (var id = new Utf8(logId)) OrtStatus.Check(OrtApi.SetSessionLogId(raw, id.Pointer));
            if (settings.LogLevel is { } level) OrtStatus.Check(OrtApi.SetSessionLogSeverityLevel(raw, (int)level));
            ExecutionProviders.Append(options, settings.Device, settings.ProviderOptions);
            return options;
        }
        catch
        {
            options.Dispose();
            throw;
        }
    }
}
