namespace Sd3Mesh.Pipeline.Onnx;

/// <summary>Where the denoising loop keeps its latents and prompt embeddings.</summary>
public enum DenoiseResidency
{
    /// <summary>In the transformer's device memory on CUDA, on the host elsewhere.</summary>
    Auto,
    /// <summary>In the transformer's device memory (IoBinding) on every device, the CPU included.</summary>
    Device,
    /// <summary>On the host: the transformer's outputs come back every step, guidance and the Euler step run in C#.</summary>
    Host,
}

/// <summary>How <see cref="OnnxSd3Model"/> creates its sessions.</summary>
public sealed record OnnxModelOptions
{
    /// <summary>Threads per CPU session (0: ONNX Runtime's default).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>
    /// CUDA: allow TF32 for float32 MatMul and Conv (off: exact float32). Submodules fed float16 activations (transformer,
    /// VAE) keep ONNX Runtime's default (TF32 allowed) whatever this says: turning it off there would also take tensor
    /// cores from their float16 convolutions. See <see cref="Sd3Mesh.Onnx.SessionSettings.Tf32"/>.
    /// </summary>
    public bool Tf32 { get; init; }

    /// <summary>
    /// CUDA: capture the transformer step into a CUDA graph and replay it (needs the device-resident loop, whose
    /// transformer inputs and outputs sit at fixed device addresses).
    /// </summary>
    public bool CudaGraph { get; init; }

    /// <summary>CUDA: the sessions on one GPU share one memory arena (see <see cref="Sd3Mesh.Onnx.DeviceArenas"/>).</summary>
    public bool SharedArena { get; init; }

    public DenoiseResidency Residency { get; init; } = DenoiseResidency.Auto;

    /// <summary>When set, every session writes ONNX Runtime's profile (per-node times) into this folder.</summary>
    public string? ProfileDirectory { get; init; }
}
