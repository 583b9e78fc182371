using Sd3Mesh.Pipeline;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Jobs;

/// <summary>
/// A validated job as the coordinator grain runs it: the pipeline's request (seeds resolved; a resumed job's with its
/// checkpoint), how often to preview, and how often to send the latents back as a checkpoint (0: never).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record JobRequest(
    [property: Id(0)] string JobId,
    [property: Id(1)] GenerationRequest Request,
    [property: Id(2)] int PreviewInterval = 0,
    [property: Id(3)] int CheckpointInterval = 0)
{
    public bool IsPreviewStep(int step) => PreviewInterval > 0 && step % PreviewInterval == 0;
    public bool IsCheckpointStep(int step) => CheckpointInterval > 0 && step % CheckpointInterval == 0;
}

/// <summary>One output of a job: a PNG (metadata chunks included) or one image's latents as .npy.</summary>
[GenerateSerializer, Immutable]
public sealed record JobOutput(
    [property: Id(0)] string MediaType,
    [property: Id(1)] byte[] Data,
    [property: Id(2)] int Width,
    [property: Id(3)] int Height,
    [property: Id(4)] ulong Seed)
{
    public const string Png = "image/png", Npy = "application/x-npy";
}

/// <summary>
/// A stage of the job started, or a denoising step finished (with a small PNG preview every preview interval, and the
/// latents after the step every checkpoint interval).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record JobProgress(
    [property: Id(0)] PipelineStage Stage,
    [property: Id(1)] int Step = 0,
    [property: Id(2)] int TotalSteps = 0,
    [property: Id(3)] byte[]? PreviewPng = null,
    [property: Id(4)] int PreviewWidth = 0,
    [property: Id(5)] int PreviewHeight = 0,
    [property: Id(6)] Tensor? Checkpoint = null)
{
    public bool IsStep => Step > 0;
}

/// <summary>
/// Where a coordinator reports its job's progress: an observer the primary silo creates per job, so events reach the
/// job's event log (and the client's stream) wherever the coordinator runs. Calls arrive one at a time, in order
/// (<see cref="ProgressRelay"/>).
/// </summary>
public interface IJobObserver : IGrainObserver
{
    Task OnProgress(JobProgress progress);
}
