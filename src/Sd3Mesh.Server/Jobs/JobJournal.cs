using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.IO;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Jobs.Storage;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Server.Jobs;

/// <summary>
/// What makes the job store durable: each job recorded in its database as it changes (the job's row and each event in
/// one transaction, before a watcher sees the event), results written to the data folder, a latent checkpoint every
/// <see cref="CheckpointEvery"/> steps, and the jobs read back at start (<see cref="JobStore.Restore"/>). A failed write
/// is logged and the job goes on: the database may then lag behind what clients saw, never the other way round.
/// </summary>
/// <param name="database">an open, claimed database: the journal owns it (disposing it lets the claim go)</param>
/// <param name="toSpec">maps a stored request (seeds resolved, init image included) to a job again, validated against the serving model</param>
public sealed class JobJournal(IJobDatabase database, ImageFiles images, int checkpointEvery, Func<GenerateRequest, GenerationSpec> toSpec,
    ILogger logger) : IDisposable
{
    /// <summary>Denoising steps between two checkpoints (0: none; a resumed job starts over).</summary>
    public int CheckpointEvery { get; } = checkpointEvery;
    public string Description => database.Description;

    /// <summary>Records a new job; a database that fails refuses the job (UNAVAILABLE) rather than leave it half recorded.</summary>
    internal void Add(Job job, GenerateRequest request, byte[] requestHash)
    {
        var state = job.ToProto();
        try
        {
            database.Add(new JobRecord(state, job.Sequence, job.Spec.Seeds, job.Detached, requestHash),
                request.InitImage.IsEmpty ? null : request.InitImage.ToByteArray());
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogError(e, "the job store ({Store}) could not record job {JobId}", Description, job.Id);
            throw new RpcException(new Status(StatusCode.Unavailable, $"the job store cannot record a new job now ({e.Message}); try again later"));
        }
    }

    /// <summary>Records an event and the job's state after it (a finished job's image files too).</summary>
    internal void Record(Job job, JobEvent e)
    {
        try
        {
            database.Append(job.ToProto(), WithoutInlineImages(e), e.EventCase == JobEvent.EventOneofCase.Finished ? job.Images : []);
        }
        catch (Exception x) when (x is not OutOfMemoryException)
        {
            logger.LogError(x, "the job store ({Store}) could not record event {Sequence} of job {JobId}", Description, e.Sequence, job.Id);
        }
    }

    /// <summary>Writes a finished job's results to their files (each atomically), to be recorded with its finished event.</summary>
    internal IReadOnlyList<StoredImage> Save(string jobId, IReadOnlyList<JobImage> results) =>
        [.. results.Select((image, i) =>
        {
            string id = $"{jobId}_{i}";
            return new StoredImage(id, i, image) { File = images.Write(id, image) };
        })];

    internal void SaveCheckpoint(Job job, int step, Tensor latents)
    {
        if (job.IsEnded) return;
        try
        {
            using var npy = new MemoryStream();
            NpyFile.Write(npy, latents);
            database.SaveCheckpoint(job.Id, step, npy.ToArray());
        }
        catch (Exception x) when (x is not OutOfMemoryException)
        {
            logger.LogError(x, "the job store ({Store}) could not save the checkpoint of job {JobId} at step {Step}", Description, job.Id, step);
        }
    }

    internal byte[] Read(StoredImage image) => images.Read(image.File!);

    /// <summary>Forgets a job the history no longer keeps: its records and its files.</summary>
    internal void Forget(Job job)
    {
        try
        {
            database.Delete(job.Id);
            foreach (var image in job.Images)
                if (image.File is { } file) images.Delete(file);
        }
        catch (Exception x) when (x is not OutOfMemoryException)
        {
            logger.LogError(x, "the job store ({Store}) could not delete job {JobId}", Description, job.Id);
        }
    }

    /// <summary>Every job the database kept, oldest first, as jobs again (an unfinished one's spec is made when it runs).</summary>
    internal IReadOnlyList<(Job Job, byte[] RequestHash)> Load()
    {
        IReadOnlyList<SavedJob> saved;
        try
        {
            saved = database.Load();
        }
        catch (Exception e) when (e is System.Data.Common.DbException or InvalidProtocolBufferException or FormatException)
        {
            throw new JobStoreException($"cannot read the jobs kept in {Description}: {e.Message}", e);
        }
        return [.. saved.Select(s => (new Job(s.Record, s.Images, s.Events, () => Respec(s.Record), Record), s.Record.RequestHash))];
    }

    /// <summary>
    /// The spec of a job that runs again: its stored request with the seeds it was given, validated against the model
    /// now served, resumed from its checkpoint when it has one.
    /// </summary>
    private GenerationSpec Respec(JobRecord record)
    {
        var request = record.State.Request.Clone();
        if (database.LoadInitImage(record.State.Id) is { } initImage) request.InitImage = ByteString.CopyFrom(initImage);
        request.ClearSeed();
        request.Seeds.Clear();
        request.Seeds.AddRange(record.Seeds);
        var spec = toSpec(request) with { CheckpointInterval = CheckpointEvery };
        if (database.LoadCheckpoint(record.State.Id) is not { } checkpoint) return spec;
        logger.LogInformation("job {JobId} resumes after step {Step} from its checkpoint", record.State.Id, checkpoint.Step);
        return spec with { Request = spec.Request with { Resume = new DenoisingCheckpoint(checkpoint.Step, NpyFile.Read(checkpoint.Latents)) } };
    }

    /// <summary>A finished event as stored: its images' bytes are in their files.</summary>
    private static JobEvent WithoutInlineImages(JobEvent e)
    {
        if (e.Finished?.Images.All(i => i.Data.IsEmpty) != false) return e;
        var stored = e.Clone();
        foreach (var image in stored.Finished.Images) image.Data = ByteString.Empty;
        return stored;
    }

    public void Dispose() => database.Dispose();
}
