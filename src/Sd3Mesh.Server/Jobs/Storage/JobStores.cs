using Sd3Mesh.Runtime.Config;

namespace Sd3Mesh.Server.Jobs.Storage;

/// <summary>Opens the job store a <see cref="StoreSpec"/> names: PostgreSQL when it gives a connection string, else SQLite in its data folder.</summary>
public static class JobStores
{
    /// <summary>The store's database (claimed for this process; the caller disposes it) and its data folder's files.</summary>
    public static (IJobDatabase Database, ImageFiles Files) Open(StoreSpec store)
    {
        IJobDatabase database = store.Postgres is { } postgres ? PostgresJobDatabase.Open(postgres) : SqliteJobDatabase.Open(store.DataFolder);
        try
        {
            return (database, new ImageFiles(store.DataFolder));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            database.Dispose();
            throw new JobStoreException($"cannot use the data folder {store.DataFolder}: {e.Message}", e);
        }
    }
}
