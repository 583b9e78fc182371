using Sd3Mesh.Protos.V1;

namespace Sd3Mesh.Server.Jobs.Storage;

/// <summary>
/// The durable half of the job store: every job's request, state, events, images and latest latent checkpoint, in
/// SQLite (<see cref="SqliteJobDatabase"/>) or PostgreSQL (<see cref="PostgresJobDatabase"/>), which share their SQL
/// (<see cref="SqlJobDatabase"/>). Opening one claims it for this process: one primary at a time runs its jobs.
/// Calls are synchronous (a write is one small transaction) and safe from any thread.
/// </summary>
public interface IJobDatabase : IDisposable
{
    /// <summary>What and where it is, for logs and errors ("SQLite /data/jobs.db"); never a password.</summary>
    string Description { get; }

    /// <summary>A new job, before anyone hears of it (its init image kept apart: only a resumed job reads it back).</summary>
    void Add(JobRecord job, byte[]? initImage);

    /// <summary>
    /// One event of a job, in one transaction with what it changed: the job's state, a finished job's images, and an
    /// ended job's checkpoint, which is dropped.
    /// </summary>
    void Append(Protos.V1.Job state, JobEvent e, IReadOnlyList<StoredImage> images);

    /// <summary>Replaces the job's checkpoint: the latents (.npy bytes) after <paramref name="step"/> denoising steps.</summary>
    void SaveCheckpoint(string jobId, int step, byte[] latents);

    (int Step, byte[] Latents)? LoadCheckpoint(string jobId);

    byte[]? LoadInitImage(string jobId);

    /// <summary>Every job, oldest first, with its images (bytes left in their files) and events.</summary>
    IReadOnlyList<SavedJob> Load();

    /// <summary>Forgets a job: its row, events, images' records and checkpoint.</summary>
    void Delete(string jobId);
}

/// <summary>
/// What a job's row holds besides its state: the request as submitted (init image bytes left out), the seeds drawn for
/// it, whether it outlives its call (Submit) or not (Generate), and the hash that tells a repeated request id's request
/// from another.
/// </summary>
/// <param name="State">the job as the API shows it (id, request, state, stage, step, times, error; images are kept apart)</param>
public sealed record JobRecord(Protos.V1.Job State, long Sequence, IReadOnlyList<ulong> Seeds, bool Detached, byte[] RequestHash);

/// <summary>A job as the database kept it.</summary>
public sealed record SavedJob(JobRecord Record, IReadOnlyList<StoredImage> Images, IReadOnlyList<JobEvent> Events);

/// <summary>The job store's database could not be opened or claimed (in use, unreachable, a newer schema).</summary>
public sealed class JobStoreException(string message, Exception? inner = null) : Exception(message, inner);
