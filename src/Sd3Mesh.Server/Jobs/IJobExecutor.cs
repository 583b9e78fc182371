using Sd3Mesh.Pipeline;

namespace Sd3Mesh.Server.Jobs;

/// <summary>
/// Runs one job: the SD3 pipeline (or, in tests, a stand-in). The job service owns queueing, events,
/// storage and cancellation; an executor only computes, reports progress, and returns one output per
/// seed, in seed order. Throwing ends the job as failed (StatusMapping chooses the status code; an
/// RpcException its own); honouring the token ends it as cancelled.
/// </summary>
public interface IJobExecutor
{
    /// <summary>The serving model's dimensions and limits, which requests are validated against; null: SD3 Medium's.</summary>
    Sd3ModelConfig? Model { get; }

    Task<IReadOnlyList<JobImage>> ExecuteAsync(GenerationSpec spec, IJobProgress progress, CancellationToken cancellationToken);
}

/// <summary>
/// Where an executor reports progress, in the pipeline's own terms (the one stage enum in the process);
/// the job turns each report into the API's events (see <see cref="JobStages"/>).
/// </summary>
public interface IJobProgress
{
    void StageStarted(PipelineStage stage);

    /// <summary>
    /// Denoising step <paramref name="step"/> (1-based) of <paramref name="totalSteps"/> is done;
    /// <paramref name="checkpoint"/>: the latents after it, every <see cref="GenerationSpec.CheckpointInterval"/> steps.
    /// </summary>
    void StepCompleted(int step, int totalSteps, JobPreview? preview = null, Tensors.Tensor? checkpoint = null);
}

/// <summary>
/// One result: PNG bytes ("image/png", with metadata chunks) or one image's latents (".npy",
/// "application/x-npy"). Width and height are the image's size in pixels either way. The job store keeps
/// <see cref="Data"/> as it is (events share it): the executor must not change it afterwards.
/// </summary>
public sealed record JobImage(string MediaType, byte[] Data, int Width, int Height, ulong Seed)
{
    public const string Png = "image/png", Npy = "application/x-npy";
}

/// <summary>A small preview of an intermediate step; <see cref="Data"/> is handed over to the job's events, not copied.</summary>
public sealed record JobPreview(string MediaType, byte[] Data, int Width, int Height);
