using System.Data.Common;
using Npgsql;

namespace Sd3Mesh.Server.Jobs.Storage;

/// <summary>
/// The job store in PostgreSQL (tables in the connection's search path, created by <see cref="JobSchema"/>'s
/// migrations), for primaries that must find the same jobs from more than one host. Calls take a pooled connection
/// each; one more connection holds a session-level advisory lock for as long as this process owns the store (the
/// server drops it when the process dies), so a second primary is refused instead of running the same jobs. A server
/// restart ends every session: the next call finds the claim's connection gone and claims the store again (or, if
/// another primary claimed it meanwhile, fails every call with <see cref="JobStoreException"/>), and a call whose
/// pooled connection the restart broke runs once more on a fresh one.
/// </summary>
public sealed class PostgresJobDatabase : SqlJobDatabase
{
    /// <summary>The advisory lock key that marks the store's owner ("S3Mesh" in ASCII).</summary>
    public const long OwnerLock = 0x5333_4D65_7368;

    private readonly NpgsqlDataSource _source;
    private readonly object _claimGate = new();
    private NpgsqlConnection _claim;
    private string? _lost;

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
            claim = Claim(source, description);
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

    /// <summary>A connection holding the owner's advisory lock; JobStoreException when another session holds it.</summary>
    private static NpgsqlConnection Claim(NpgsqlDataSource source, string description)
    {
        var claim = source.OpenConnection();
        try
        {
            using var command = new NpgsqlCommand("SELECT pg_try_advisory_lock(@key)", claim);
            command.Parameters.AddWithValue("key", OwnerLock);
            if (command.ExecuteScalar() is not true)
                throw new JobStoreException($"the job store {description} is in use by another sd3mesh primary (it holds advisory lock {OwnerLock})");
            return claim;
        }
        catch
        {
            claim.Dispose();
            throw;
        }
    }

    protected override T Run<T>(Func<DbConnection, T> work)
    {
        EnsureClaimed();
        try
        {
            using var connection = _source.OpenConnection();
            return work(connection);
        }
        catch (Exception e) when (IsConnectionLost(e))
        {
            // A pooled connection from before a server restart: the transaction did not commit, so it runs again on a new one.
            _source.Clear();
            using var connection = _source.OpenConnection();
            return work(connection);
        }
    }

    /// <summary>
    /// Checks that the claim's session is alive (one round trip on its connection before every call: a write never goes
    /// to a store this process may no longer own); after a server restart ended it, claims the store again. Another
    /// primary having claimed it meanwhile is final: this process no longer owns the jobs, and every later call says so.
    /// </summary>
    private void EnsureClaimed()
    {
        lock (_claimGate)
        {
            if (_lost is not null) throw new JobStoreException(_lost);
            try
            {
                using var command = new NpgsqlCommand("SELECT 1", _claim);
                command.ExecuteScalar();
            }
            catch (Exception e) when (IsConnectionLost(e) || e is InvalidOperationException)
            {
                _claim.Dispose();
                _source.Clear();
                try
                {
                    _claim = Claim(_source, Description);
                }
                catch (JobStoreException)
                {
                    _lost = $"the job store {Description} was claimed by another sd3mesh primary after its server restarted (advisory lock {OwnerLock}): " +
                            "this primary no longer records its jobs; stop it";
                    throw new JobStoreException(_lost);
                }
            }
        }
    }

    /// <summary>The session is gone (the server restarted or shut down, the socket broke), not the statement wrong.</summary>
    private static bool IsConnectionLost(Exception e) => e switch
    {
        PostgresException p => p.SqlState.StartsWith("57P", StringComparison.Ordinal) || p.SqlState.StartsWith("08", StringComparison.Ordinal),
        NpgsqlException n => n.InnerException is IOException or System.Net.Sockets.SocketException,
        _ => false,
    };

    public override void Dispose()
    {
        lock (_claimGate) _claim.Dispose(); // ends the session: the advisory lock goes with it
        _source.Dispose();
    }
}
