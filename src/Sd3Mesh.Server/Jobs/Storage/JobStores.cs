using Microsoft.Extensions.Logging;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Runtime.Config;

namespace Sd3Mesh.Server.Jobs.Storage;

/// <summary>Opens the job store a <see cref="StoreSpec"/> names: PostgreSQL when it gives a connection string, else SQLite in its data folder.</summary>
public static class JobStores
{
    /// <summary>The store's journal, its database claimed for this process until the journal is disposed.</summary>
    /// <param name="toSpec">maps a stored request to a job again (see <see cref="JobJournal"/>)</param>
    public static JobJournal Open(StoreSpec store, Func<GenerateRequest, GenerationSpec> toSpec, ILogger logger)
    {
        var database = OpenDatabase(store);
        try
        {
            return new JobJournal(database, new ImageFiles(store.DataFolder), store.CheckpointEvery, toSpec, logger);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            database.Dispose();
            throw new JobStoreException($"cannot use the data folder {store.DataFolder}: {e.Message}", e);
        }
    }

    public static IJobDatabase OpenDatabase(StoreSpec store) =>
        store.Postgres is { } postgres ? PostgresJobDatabase.Open(postgres) : SqliteJobDatabase.Open(store.DataFolder);
}
