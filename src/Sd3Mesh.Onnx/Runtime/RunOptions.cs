using Sd3Mesh.Onnx.Native;

namespace Sd3Mesh.Onnx;

/// <summary>
/// Per-call settings of <see cref="InferenceSession.Run(IReadOnlyDictionary{string, Sd3Mesh.Tensors.Tensor}, IReadOnlyList{string}?, RunOptions?, CancellationToken)"/>
/// (OrtRunOptions): a log tag, a log level, configuration entries, and the terminate flag that stops a
/// run in flight. <see cref="Terminate"/> may be called from any thread while a run uses these options;
/// the other members are not thread-safe. One instance may serve consecutive runs.
/// </summary>
public sealed unsafe class RunOptions : IDisposable
{
    private volatile bool _terminateRequested;

    public RunOptions()
    {
        _ = OrtLibrary.Shared;
        nint raw;
        OrtStatus.Check(OrtApi.CreateRunOptions(&raw));
        Handle = new RunOptionsHandle(raw);
    }

    internal RunOptionsHandle Handle { get; }

    /// <summary>Tag that ONNX Runtime puts on this run's log messages.</summary>
    public string LogTag
    {
        get
        {
            byte* tag;
            OrtStatus.Check(OrtApi.RunOptionsGetRunTag(Handle.DangerousGetHandle(), &tag));
            return Utf8.Read(tag) ?? "";
        }
        set
        {
            using var v = new Utf8(value);
            OrtStatus.Check(OrtApi.RunOptionsSetRunTag(Handle.DangerousGetHandle(), v.Pointer));
        }
    }

    /// <summary>Least severe message this run logs.</summary>
    public OrtLogLevel LogLevel
    {
        set => OrtStatus.Check(OrtApi.RunOptionsSetRunLogSeverityLevel(Handle.DangerousGetHandle(), (int)value));
    }

    /// <summary>Adds a run configuration entry (AddRunConfigEntry).</summary>
    public void AddConfigEntry(string key, string value)
    {
        using var k = new Utf8(key);
        using var v = new Utf8(value);
        OrtStatus.Check(OrtApi.AddRunConfigEntry(Handle.DangerousGetHandle(), k.Pointer, v.Pointer));
    }

    /// <summary>A run configuration entry, or null when unset (GetRunConfigEntry).</summary>
    public string? GetConfigEntry(string key)
    {
        using var k = new Utf8(key);
        return Utf8.Read(OrtApi.GetRunConfigEntry(Handle.DangerousGetHandle(), k.Pointer));
    }

    /// <summary>True after <see cref="Terminate"/> until <see cref="ResetTerminate"/>.</summary>
    public bool IsTerminateRequested => _terminateRequested;

    /// <summary>Asks every run using these options to stop at its next operator boundary. Thread-safe.</summary>
    public void Terminate()
    {
        _terminateRequested = true;
        bool added = false;
        try
        {
            Handle.DangerousAddRef(ref added); // not released under the call, whatever another thread disposes
        }
        catch (ObjectDisposedException)
        {
            return; // no run can use these options any more
        }
        try
        {
            OrtStatus.Check(OrtApi.RunOptionsSetTerminate(Handle.DangerousGetHandle()));
        }
        finally
        {
            Handle.DangerousRelease();
        }
    }

    /// <summary>Clears the terminate flag so the options can serve another run.</summary>
    public void ResetTerminate()
    {
        OrtStatus.Check(OrtApi.RunOptionsUnsetTerminate(Handle.DangerousGetHandle()));
        _terminateRequested = false;
    }

    public void Dispose() => Handle.Dispose();
}
