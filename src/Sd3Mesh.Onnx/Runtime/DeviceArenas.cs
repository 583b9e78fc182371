using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.ML.OnnxRuntime;

namespace Sd3Mesh.Onnx;

/// <summary>
/// One CUDA memory arena per GPU, registered once in the process's ONNX Runtime environment and shared by every
/// session on that GPU that asks for it (<c>session.use_env_allocators</c>). Without it each session grows its own
/// arena to its own peak, and an SD3 job's five sessions hold the sum of their activation peaks at once; shared, they
/// reuse each other's freed blocks and the card holds about the largest. Sessions on one device run one at a time
/// (<see cref="DeviceQueue"/>), so sharing adds no contention.
/// </summary>
public static class DeviceArenas
{
    /// <summary>ONNX Runtime's name for the CUDA execution provider (the allocator is created by it).</summary>
    private const string CudaProvider = "CUDAExecutionProvider";

    private static readonly ConcurrentDictionary<int, Lazy<string?>> s_cuda = new();

    /// <summary>
    /// Registers GPU <paramref name="device"/>'s shared arena if not yet done; null when it is in place, else why it
    /// could not be (the sessions then keep arenas of their own: slower to fail than to start).
    /// </summary>
    public static string? EnsureCuda(Device device)
    {
        if (!device.IsCuda) throw new ArgumentException($"a shared arena is for CUDA devices, not {device}", nameof(device));
        return s_cuda.GetOrAdd(device.Index, index => new Lazy<string?>(() => Register(index), LazyThreadSafetyMode.ExecutionAndPublication)).Value;
    }

    private static string? Register(int index)
    {
        try
        {
            using var memory = new OrtMemoryInfo("Cuda", OrtAllocatorType.ArenaAllocator, index, OrtMemType.Default);
            // Grow by what is asked (multi-GB weights and activations: powers of two would waste gigabytes), no cap.
            using var arena = new OrtArenaCfg(maxMemory: 0, arenaExtendStrategy: 1, initialChunkSizeBytes: -1, maxDeadBytesPerChunk: -1);
            OrtRuntime.Env.CreateAndRegisterAllocator(CudaProvider, memory, arena,
                new Dictionary<string, string> { ["device_id"] = index.ToString(CultureInfo.InvariantCulture) });
            return null;
        }
        catch (OnnxRuntimeException e)
        {
            return e.Message;
        }
    }
}
