using Orleans.Concurrency;
using Sd3Mesh.Pipeline.Guidance;
using Sd3Mesh.Runtime.Jobs;
using Sd3Mesh.Runtime.Tensors;

namespace Sd3Mesh.Runtime.Grains;

// The SD3 grains, keyed NAME@DEVICE (DeviceKey) and placed on the silo that owns DEVICE. Tensors travel as TensorRefs.

/// <summary>What every submodule grain reports for placement views (sd3mesh placement, the Cluster API, the dashboard).</summary>
[GenerateSerializer, Immutable]
public sealed record GrainReport(
    [property: Id(0)] string Key,
    [property: Id(1)] string Submodule,
    [property: Id(2)] string Device,
    [property: Id(3)] string Silo,
    [property: Id(4)] SessionState State,
    [property: Id(5)] long WeightBytes,
    [property: Id(6)] long Calls,
    [property: Id(7)] double MeanMs,
    [property: Id(8)] double P95Ms,
    [property: Id(9)] string? LastError,
    [property: Id(10)] DateTime? LastCall,
    [property: Id(11)] double LoadMs,
    [property: Id(12)] int Loads)
{
    /// <summary>The grain was deactivated (idle timeout): this is its last report, its sessions released.</summary>
    [Id(13)] public bool Deactivated { get; init; }
}

public interface ISubmoduleGrain : IGrainWithStringKey
{
    [AlwaysInterleave]
    Task<GrainReport> Report();

    /// <summary>Loads the sessions now (warm start) instead of on the first call.</summary>
    Task Warm(CancellationToken cancellationToken = default);
}

[GenerateSerializer, Immutable]
public sealed record ClipEncodingRefs([property: Id(0)] TensorRef Pooled, [property: Id(1)] TensorRef HiddenState);

/// <summary>text_encoder (CLIP-L) or text_encoder_2 (OpenCLIP bigG).</summary>
public interface IClipEncoderGrain : ISubmoduleGrain
{
    Task<ClipEncodingRefs> Encode(TensorRef inputIds, int hiddenStateFromEnd, CancellationToken cancellationToken = default);
}

/// <summary>text_encoder_3 (T5-XXL).</summary>
public interface IT5EncoderGrain : ISubmoduleGrain
{
    Task<TensorRef> Encode(TensorRef inputIds, CancellationToken cancellationToken = default);
}

/// <summary>The VAE: decoder and (for image-to-image) encoder.</summary>
public interface IVaeGrain : ISubmoduleGrain
{
    Task<TensorRef> Decode(TensorRef latents, CancellationToken cancellationToken = default);
    Task<TensorRef> Encode(TensorRef pixels, CancellationToken cancellationToken = default);
}

/// <summary>A job's denoising as the transformer grain holds it: bound once, then stepped by index.</summary>
[GenerateSerializer, Immutable]
public sealed record DenoiseStart(
    [property: Id(0)] TensorRef Latents,
    [property: Id(1)] TensorRef Embeds,
    [property: Id(2)] TensorRef Pooled,
    [property: Id(3)] TensorRef? NegativeEmbeds,
    [property: Id(4)] TensorRef? NegativePooled,
    [property: Id(5)] double GuidanceScale,
    [property: Id(6)] CfgMode CfgMode,
    [property: Id(7)] float[] Timesteps,
    [property: Id(8)] float[] Sigmas,
    [property: Id(9)] int BeginIndex);

/// <summary>
/// The MMDiT transformer. A job's prompt embeddings reach it once (<see cref="Begin"/>); each step then moves only
/// the step's index, and the latents stay with the grain (on the GPU, in device memory) until <see cref="ReadLatents"/>.
/// For CFG-parallel, two transformer grains each hold one side's embeddings (<see cref="Bind"/>) and return that
/// side's velocity per step (<see cref="Predict"/>).
/// </summary>
public interface ITransformerGrain : ISubmoduleGrain
{
    Task Begin(string job, DenoiseStart start, CancellationToken cancellationToken = default);
    Task Step(string job, int index, CancellationToken cancellationToken = default);
    Task<TensorRef> ReadLatents(string job, CancellationToken cancellationToken = default);
    Task End(string job);

    Task Bind(string job, TensorRef embeds, TensorRef pooled, CancellationToken cancellationToken = default);
    Task<TensorRef> Predict(string job, TensorRef latents, TensorRef timestep, CancellationToken cancellationToken = default);
}

/// <summary>One job, placed on its transformer's device (key job/ID@DEVICE): encode, denoise, decode through the grains above.</summary>
public interface IJobCoordinatorGrain : IGrainWithStringKey
{
    [ResponseTimeout("1.00:00:00")]
    Task<JobOutput[]> Run(JobRequest job, IJobObserver observer, CancellationToken cancellationToken = default);
}
