namespace Sd3Mesh.Server.Jobs;

/// <summary>
/// Runs one job: the SD3 pipeline (or, in tests, a stand-in). The job service owns queueing, events,
/// storage and cancellation; an executor only computes, reports progress, and returns one output per
/// seed, in seed order. Throwing ends the job as failed (RpcException chooses the status code);
/// honouring the token ends it as cancelled.
/// </summary>
public interface IJobExecutor
{
    Task<IReadOnlyList<JobImage>> ExecuteAsync(GenerationSpec spec, IJobProgress progress, CancellationToken cancellationToken);
}

public enum JobStage { Tokenize, Encode, Denoise, Decode }

/// <summary>Where an executor reports progress; every call becomes an event that watchers see.</summary>
public interface IJobProgress
{
    void StageStarted(JobStage stage);

    /// <summary>Denoising step <paramref name="step"/> (1-based) of <paramref name="totalSteps"/> is done.</summary>
    void StepCompleted(int step, int totalSteps, JobPreview? preview = null);
}

/// <summary>One result: PNG bytes ("image/png", with metadata chunks) or latents (".npy", "application/x-npy").</summary>
public sealed record JobImage(string MediaType, byte[] Data, int Width, int Height, ulong Seed);

/// <summary>A small preview of an intermediate step.</summary>
public sealed record JobPreview(string MediaType, byte[] Data, int Width, int Height);

/// <summary>Thrown where an executor would be created but this build has none for real generation.</summary>
public sealed class PipelineUnavailableException(string message) : Exception(message);
