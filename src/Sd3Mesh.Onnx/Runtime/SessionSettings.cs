using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Sd3Mesh.Onnx;

/// <summary>
/// How a session is created: the <see cref="Device"/> it runs on and ONNX Runtime's session settings. A plain
/// settings object: the official <see cref="SessionOptions"/> (with the execution provider the device names) is
/// built from it for each session, so one instance may serve many sessions. Not thread-safe while modified.
/// </summary>
public sealed class SessionSettings
{
    /// <summary>Where the session runs (execution provider and device index).</summary>
    public Device Device { get; set; } = Device.Cpu;

    /// <summary>Threads used inside one operator; 0 lets ONNX Runtime choose (one per physical core).</summary>
    public int IntraOpThreads { get; set; }

    /// <summary>Threads used to run independent operators in parallel; 0 lets ONNX Runtime choose.</summary>
    public int InterOpThreads { get; set; }

    public GraphOptimizationLevel GraphOptimizationLevel { get; set; } = GraphOptimizationLevel.ORT_ENABLE_ALL;

    /// <summary>Plan memory from the first run's shapes and reuse the plan (ONNX Runtime's default: on).</summary>
    public bool EnableMemoryPattern { get; set; } = true;

    /// <summary>Use ONNX Runtime's arena for CPU memory (default: on).</summary>
    public bool EnableCpuArena { get; set; } = true;

    /// <summary>
    /// CUDA: let float32 MatMul and Conv run in TF32 (10-bit mantissa inputs, float32 accumulation; relative
    /// errors near 1e-3): ONNX Runtime's use_tf32. Off by default, so float32 models compute in exact float32 on
    /// every device. No effect on the CPU. Beware: in ORT 1.32 the cuDNN-frontend convolution reads use_tf32=0 as
    /// "no tensor cores" for every element type, so float16 convolutions get slower with it off (OnnxSd3Model keeps
    /// it on for float16 submodules).
    /// </summary>
    public bool Tf32 { get; set; }

    /// <summary>
    /// CUDA: capture the session's kernels into a CUDA graph on the first runs and replay it afterwards
    /// (enable_cuda_graph). Every run must then use an IoBinding whose inputs and outputs stay at the same
    /// device addresses with the same shapes.
    /// </summary>
    public bool CudaGraph { get; set; }

    /// <summary>
    /// CUDA: allocate from the GPU's arena shared by every session on it (<see cref="DeviceArenas"/>) instead of an
    /// arena of the session's own. Falls back to an own arena, with a warning in ONNX Runtime's log, if the shared
    /// one cannot be registered.
    /// </summary>
    public bool SharedArena { get; set; }

    /// <summary>
    /// When set, ONNX Runtime profiles the session into a JSON file (Chrome trace format) whose name starts
    /// with this prefix; <see cref="OnnxSession.EndProfiling"/> finishes it and returns its path.
    /// </summary>
    public string? ProfilingFilePrefix { get; set; }

    /// <summary>Fixes symbolic dimensions by name (e.g. "batch" = 2), so ONNX Runtime can plan for them.</summary>
    public IDictionary<string, long> FreeDimensionOverrides { get; } = new Dictionary<string, long>(StringComparer.Ordinal);

    /// <summary>Fixes symbolic dimensions by their denotation (e.g. "DATA_BATCH" = 2).</summary>
    public IDictionary<string, long> FreeDimensionOverridesByDenotation { get; } = new Dictionary<string, long>(StringComparer.Ordinal);

    /// <summary>
    /// Extra CUDA provider options, by ONNX Runtime's V2 keys (e.g. <c>gpu_mem_limit</c>, <c>cudnn_conv_algo_search</c>).
    /// <c>device_id</c>, <c>use_tf32</c> and <c>enable_cuda_graph</c> come from <see cref="Device"/>, <see cref="Tf32"/>
    /// and <see cref="CudaGraph"/>.
    /// </summary>
    public IDictionary<string, string> ProviderOptions { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Session configuration entries (AddSessionConfigEntry), e.g. "session.disable_cpu_ep_fallback" = "1".</summary>
    public IDictionary<string, string> ConfigEntries { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Tag for this session's log messages.</summary>
    public string? LogId { get; set; }

    /// <summary>Least severe message this session logs (null: the environment's level).</summary>
    public OrtLoggingLevel? LogLevel { get; set; }

    private static readonly string[] DerivedProviderKeys = ["device_id", "use_tf32", "enable_cuda_graph"];

    /// <summary>A copy (the dictionaries too).</summary>
    public SessionSettings Clone()
    {
        var fresh = new SessionSettings
        {
            Device = Device, IntraOpThreads = IntraOpThreads, InterOpThreads = InterOpThreads, GraphOptimizationLevel = GraphOptimizationLevel,
            EnableMemoryPattern = EnableMemoryPattern, EnableCpuArena = EnableCpuArena, Tf32 = Tf32, CudaGraph = CudaGraph, SharedArena = SharedArena,
            ProfilingFilePrefix = ProfilingFilePrefix, LogId = LogId, LogLevel = LogLevel,
        };
        foreach (var (k, v) in FreeDimensionOverrides) fresh.FreeDimensionOverrides[k] = v;
        foreach (var (k, v) in FreeDimensionOverridesByDenotation) fresh.FreeDimensionOverridesByDenotation[k] = v;
        foreach (var (k, v) in ProviderOptions) fresh.ProviderOptions[k] = v;
        foreach (var (k, v) in ConfigEntries) fresh.ConfigEntries[k] = v;
        return fresh;
    }

    /// <summary>Checks every setting, naming the first bad one and its limit.</summary>
    public void Validate()
    {
        if (IntraOpThreads < 0)
            throw new ArgumentOutOfRangeException(nameof(IntraOpThreads), IntraOpThreads,
                $"IntraOpThreads must be >= 0 (0 = ONNX Runtime's default), got {IntraOpThreads}");
        if (InterOpThreads < 0)
            throw new ArgumentOutOfRangeException(nameof(InterOpThreads), InterOpThreads,
                $"InterOpThreads must be >= 0 (0 = ONNX Runtime's default), got {InterOpThreads}");
        if (!Enum.IsDefined(GraphOptimizationLevel))
            throw new ArgumentOutOfRangeException(nameof(GraphOptimizationLevel), GraphOptimizationLevel,
                "GraphOptimizationLevel must be one of ORT_DISABLE_ALL, ORT_ENABLE_BASIC, ORT_ENABLE_EXTENDED, ORT_ENABLE_LAYOUT, ORT_ENABLE_ALL");
        foreach (var (name, value) in FreeDimensionOverrides)
            if (value < 1)
                throw new ArgumentOutOfRangeException(nameof(FreeDimensionOverrides), value, $"free dimension override '{name}' must be >= 1, got {value}");
        foreach (var (name, value) in FreeDimensionOverridesByDenotation)
            if (value < 1)
                throw new ArgumentOutOfRangeException(nameof(FreeDimensionOverridesByDenotation), value,
                    $"free dimension override for denotation '{name}' must be >= 1, got {value}");
        if (ProfilingFilePrefix is { Length: 0 })
            throw new ArgumentException("ProfilingFilePrefix must not be empty (null disables profiling)", nameof(ProfilingFilePrefix));
        foreach (var key in DerivedProviderKeys)
            if (ProviderOptions.ContainsKey(key))
                throw new ArgumentException($"provider option '{key}' is set by Device, Tf32 and CudaGraph, not by ProviderOptions", nameof(ProviderOptions));
        if (ProviderOptions.Count > 0 && !Device.IsCuda)
            throw new ArgumentException($"ProviderOptions are CUDA provider options, but the device is {Device}", nameof(ProviderOptions));
    }

    /// <summary>
    /// The official session options for these settings, with the device's execution provider appended. A device
    /// that cannot be used throws <see cref="DeviceUnavailableException"/> saying why (see <see cref="CudaSupport"/>).
    /// </summary>
    internal SessionOptions Build()
    {
        Validate();
        _ = OrtRuntime.Env; // Sd3Mesh's environment (log routing) before anything else touches ONNX Runtime
        CudaSupport.EnsureUsable(Device);
        var options = new SessionOptions();
        try
        {
            options.IntraOpNumThreads = IntraOpThreads;
            options.InterOpNumThreads = InterOpThreads;
            options.GraphOptimizationLevel = GraphOptimizationLevel;
            options.EnableMemoryPattern = EnableMemoryPattern;
            options.EnableCpuMemArena = EnableCpuArena;
            if (ProfilingFilePrefix is not null)
            {
                options.ProfileOutputPathPrefix = ProfilingFilePrefix; // before enabling: enabling passes the prefix to ONNX Runtime
                options.EnableProfiling = true;
            }
            foreach (var (name, value) in FreeDimensionOverrides) options.AddFreeDimensionOverrideByName(name, value);
            foreach (var (denotation, value) in FreeDimensionOverridesByDenotation) options.AddFreeDimensionOverride(denotation, value);
            foreach (var (key, value) in ConfigEntries) options.AddSessionConfigEntry(key, value);
            if (LogId is not null) options.LogId = LogId;
            if (LogLevel is { } level) options.LogSeverityLevel = level;
            if (Device.IsCuda && SharedArena) UseSharedArena(options);
            if (Device.IsCuda) AppendCuda(options);
            return options;
        }
        catch
        {
            options.Dispose();
            throw;
        }
    }

    private void UseSharedArena(SessionOptions options)
    {
        if (DeviceArenas.EnsureCuda(Device) is { } why)
            OrtRuntime.Logger?.LogWarning("{Device}: no shared CUDA arena ({Reason}); {Session} keeps its own", Device, why, LogId ?? "a session");
        else
            options.AddSessionConfigEntry("session.use_env_allocators", "1");
    }

    /// <summary>The CUDA execution provider on GPU <see cref="Device"/>.Index (the CPU provider stays as the fallback for what CUDA lacks).</summary>
    private void AppendCuda(SessionOptions options)
    {
        var values = new Dictionary<string, string>(ProviderOptions, StringComparer.Ordinal)
        {
            ["device_id"] = Device.Index.ToString(CultureInfo.InvariantCulture),
            ["use_tf32"] = Tf32 ? "1" : "0",
            ["enable_cuda_graph"] = CudaGraph ? "1" : "0",
        };
        try
        {
            using var cuda = new OrtCUDAProviderOptions();
            cuda.UpdateOptions(values);
            options.AppendExecutionProvider_CUDA(cuda);
        }
        catch (OnnxRuntimeException e)
        {
            throw new DeviceUnavailableException(Device,
                $"{Device}: ONNX Runtime's CUDA execution provider could not be added: {e.Message}", e);
        }
    }
}
