namespace Sd3Mesh.Onnx;

/// <summary>ONNX Runtime's graph optimization levels (GraphOptimizationLevel in the C API).</summary>
public enum GraphOptimizationLevel
{
    DisableAll = 0,
    Basic = 1,
    Extended = 2,
    Layout = 3,
    All = 99,
}

/// <summary>
/// How a session is created: the device it runs on and ONNX Runtime's session settings. A plain settings
/// object; the native OrtSessionOptions is built from it when a session is created, so one instance may
/// be reused for many sessions. Not thread-safe while being modified.
/// </summary>
public sealed class SessionOptions
{
    /// <summary>Where the session runs (execution provider and device index).</summary>
    public Device Device { get; set; } = Device.Cpu;

    /// <summary>Threads used inside one operator; 0 lets ONNX Runtime choose (one per physical core).</summary>
    public int IntraOpThreads { get; set; }

    /// <summary>Threads used to run independent operators in parallel; 0 lets ONNX Runtime choose.</summary>
    public int InterOpThreads { get; set; }

    public GraphOptimizationLevel GraphOptimizationLevel { get; set; } = GraphOptimizationLevel.All;

    /// <summary>Plan memory from the first run's shapes and reuse the plan (ONNX Runtime's default: on).</summary>
    public bool EnableMemoryPattern { get; set; } = true;

    /// <summary>Use ONNX Runtime's arena for CPU memory (default: on).</summary>
    public bool EnableCpuArena { get; set; } = true;

    /// <summary>
    /// When set, ONNX Runtime profiles the session into a JSON file (Chrome trace format) whose name starts
    /// with this prefix; <see cref="InferenceSession.EndProfiling"/> finishes it and returns its path.
    /// </summary>
    public string? ProfilingFilePrefix { get; set; }

    /// <summary>Fixes symbolic dimensions by name (e.g. "batch" = 2), so ONNX Runtime can plan for them.</summary>
    public IDictionary<string, long> FreeDimensionOverrides { get; } = new Dictionary<string, long>(StringComparer.Ordinal);

    /// <summary>Fixes symbolic dimensions by their denotation (e.g. "DATA_BATCH" = 2).</summary>
    public IDictionary<string, long> FreeDimensionOverridesByDenotation { get; } = new Dictionary<string, long>(StringComparer.Ordinal);

    /// <summary>
    /// Extra execution-provider options, passed as they are: WebGPU takes ONNX Runtime's short keys
    /// (e.g. <c>dawnBackendType</c> = <c>Vulkan</c>, the default here); CUDA takes its V2 option keys
    /// (e.g. <c>gpu_mem_limit</c>; <c>device_id</c> comes from <see cref="Device"/>).
    /// </summary>
    public IDictionary<string, string> ProviderOptions { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Session configuration entries (AddSessionConfigEntry), e.g. "session.disable_cpu_ep_fallback" = "1".</summary>
    public IDictionary<string, string> ConfigEntries { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Tag for this session's log messages.</summary>
    public string? LogId { get; set; }

    /// <summary>Least severe message this session logs (null: the environment's level).</summary>
    public OrtLogLevel? LogLevel { get; set; }

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
                "GraphOptimizationLevel must be DisableAll, Basic, Extended, Layout or All");
        foreach (var (name, value) in FreeDimensionOverrides)
            if (value < 1)
                throw new ArgumentOutOfRangeException(nameof(FreeDimensionOverrides), value,
                    $"free dimension override '{name}' must be >= 1, got {value}");
        foreach (var (name, value) in FreeDimensionOverridesByDenotation)
            if (value < 1)
                throw new ArgumentOutOfRangeException(nameof(FreeDimensionOverridesByDenotation), value,
                    $"free dimension override for denotation '{name}' must be >= 1, got {value}");
        if (ProfilingFilePrefix is { Length: 0 })
            throw new ArgumentException("ProfilingFilePrefix must not be empty (null disables profiling)", nameof(ProfilingFilePrefix));
    }
}
