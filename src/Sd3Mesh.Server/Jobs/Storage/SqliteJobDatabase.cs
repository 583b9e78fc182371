using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Sd3Mesh.Server.Jobs.Storage;

/// <summary>
/// The job store in SQLite: <c>jobs.db</c> in the data folder, written ahead (WAL) so that a write is one append, with
/// synchronous=NORMAL: a committed job survives the process being killed (the OS has it), though the last commits
/// before a power loss may not. The process claims the folder with an exclusive lock on <c>jobs.lock</c>, which the OS
/// releases however the process ends, so a second server on the same folder is refused instead of running the same
/// jobs. One connection, one caller at a time (SQLite has one writer anyway).
/// </summary>
public sealed class SqliteJobDatabase : SqlJobDatabase
{
    public const string FileName = "jobs.db", LockName = "jobs.lock";

    private readonly object _gate = new();
    private readonly FileStream _claim;
    private readonly SqliteConnection _connection;

    private SqliteJobDatabase(string path, FileStream claim, SqliteConnection connection)
    {
        Description = $"SQLite {path}";
        _claim = claim;
        _connection = connection;
    }

    public override string Description { get; }

    /// <summary>Opens (creating it if needed) and claims the job store of <paramref name="dataFolder"/>.</summary>
    public static SqliteJobDatabase Open(string dataFolder)
    {
        string path = Path.Combine(dataFolder, FileName);
        FileStream claim;
        try
        {
            Directory.CreateDirectory(dataFolder);
            // On Unix, FileShare.None takes an exclusive advisory lock (flock) for as long as the stream is open.
            claim = new FileStream(Path.Combine(dataFolder, LockName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (Directory.Exists(dataFolder) && File.Exists(Path.Combine(dataFolder, LockName)))
        {
            throw new JobStoreException($"the data folder {dataFolder} is in use by another sd3mesh server ({LockName} is locked): " +
                                        "give each server a data folder of its own", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new JobStoreException($"cannot use the data folder {dataFolder}: {e.Message}", e);
        }

        SqliteConnection? connection = null;
        try
        {
            connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
            connection.Open();
            Execute(connection, null, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
            var database = new SqliteJobDatabase(path, claim, connection);
            database.Migrate(JobSchema.Sqlite);
            return database;
        }
        catch (Exception e)
        {
            connection?.Dispose();
            claim.Dispose();
            if (e is JobStoreException) throw;
            throw new JobStoreException($"cannot open the job store {path}: {e.Message}", e);
        }
    }

    protected override T Run<T>(Func<DbConnection, T> work)
    {
        lock (_gate) return work(_connection);
    }

    public override void Dispose()
    {
        lock (_gate) _connection.Dispose();
        _claim.Dispose();
    }
}
