using System.Data.Common;
using Npgsql;

namespace Sd3Mesh.Server.Jobs.Storage;

/// <summary>
/// The job store in PostgreSQL (tables in the connection's search path, created by <see cref="JobSchema"/>'s
/// migrations), for primaries that must find the same jobs from more than one host. Calls take a pooled connection
/// each; one more connection holds a session-level advisory lock for as long as this process owns the store (the
/// server drops it when the process dies), so a second primary is refused instead of running the same jobs.
/// </summary>
public sealed class PostgresJobDatabase : SqlJobDatabase
{
    /// <summary>The advisory lock key that marks the store's owner ("S3Mesh" in ASCII).</summary>
    public const long OwnerLock = 0x5333_4D65_7368;

    private readonly NpgsqlDataSource _source;
    private readonly NpgsqlConnection _claim;

    private PostgresJobDatabase(string description, NpgsqlDataSource source, NpgsqlConnection claim)
    {
        Description = description;
        _source = source;
        _claim = claim;
    }

    public override string Description { get; }

    /// <summary>Connects, claims the store and brings its schema up to date.</summary>
    /// <param name="connectionString">an Npgsql connection string (Host=...;Port=...;Database=...;Username=...)</param>
    public static PostgresJobDatabase Open(string connectionString)
    {
        NpgsqlConnectionStringBuilder settings;
        try
        {
            settings = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException e)
        {
            throw new JobStoreException($"the PostgreSQL connection string is not valid: {e.Message}", e);
        }
        // Where, never who or with what password.
        string description = $"PostgreSQL {settings.Host}:{settings.Port}/{settings.Database}";

        var source = NpgsqlDataSource.Create(settings);
        NpgsqlConnection? claim = null;
        try
        {
            claim = source.OpenConnection();
            using (var command = new NpgsqlCommand("SELECT pg_try_advisory_lock(@key)", claim))
            {
                command.Parameters.AddWithValue("key", OwnerLock);
                if (command.ExecuteScalar() is not true)
                    throw new JobStoreException($"the job store {description} is in use by another sd3mesh primary (it holds advisory lock {OwnerLock})");
            }
            var database = new PostgresJobDatabase(description, source, claim);
            database.Migrate(JobSchema.Postgres);
            return database;
        }
        catch (Exception e)
        {
            claim?.Dispose();
            source.Dispose();
            if (e is JobStoreException) throw;
            throw new JobStoreException($"cannot use the job store {description}: {e.Message}", e);
        }
    }

    protected override T Run<T>(Func<DbConnection, T> work)
    {
        using var connection = _source.OpenConnection();
        return work(connection);
    }

    public override void Dispose()
    {
        _claim.Dispose(); // ends the session: the advisory lock goes with it
        _source.Dispose();
    }
}
