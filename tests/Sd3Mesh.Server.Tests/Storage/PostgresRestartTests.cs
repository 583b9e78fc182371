using Google.Protobuf.WellKnownTypes;
using Npgsql;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Jobs.Storage;

namespace Sd3Mesh.Server.Tests.Storage;

/// <summary>
/// The PostgreSQL job store across a restart of its server (a real one; every session ends): the primary claims the store again and goes on recording, unless another primary claimed it first.
/// A server of their own: the restarts would break the other tests' sessions.
/// </summary>
public sealed class PostgresRestartTests(PostgresServer server) : IClassFixture<PostgresServer>
{
    private static JobRecord Record(string id, long sequence) => new(
        new Protos.V1.Job { Id = id, State = JobState.Queued, Request = new GenerateRequest { Prompt = id }, CreatedAt = Timestamp.FromDateTime(DateTime.UtcNow) },
        Sequence: sequence, Seeds: [1UL], Detached: true, RequestHash: [1, 2, 3]);

    private static async Task<long> AdvisoryLocksAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString + ";Pooling=false"); // a session of its own, never one from before a restart
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task After_its_server_restarts_the_primary_claims_the_store_again_and_records_the_next_job()
    {
        string store = await server.CreateDatabaseAsync();
        using var database = PostgresJobDatabase.Open(store);
        database.Add(Record("before", 1), null);
        Assert.Equal(1, await AdvisoryLocksAsync(store));

        await server.RestartAsync();
        Assert.Equal(0, await AdvisoryLocksAsync(store)); // the claim's session ended with the server

        database.Add(Record("after", 2), null);
        Assert.Equal(["before", "after"], database.Load().Select(j => j.Record.State.Id));
        Assert.Equal(1, await AdvisoryLocksAsync(store));
        var rival = Assert.Throws<JobStoreException>(() => PostgresJobDatabase.Open(store));
        Assert.Contains("is in use by another sd3mesh primary", rival.Message);
    }

    [Fact]
    public async Task A_primary_whose_store_another_claimed_during_the_restart_refuses_to_record_naming_why()
    {
        string store = await server.CreateDatabaseAsync();
        using var first = PostgresJobDatabase.Open(store);
        first.Add(Record("first's", 1), null);

        await server.RestartAsync();
        using var second = PostgresJobDatabase.Open(store); // took the claim while the first's session was gone

        string expected = $"was claimed by another sd3mesh primary after its server restarted (advisory lock {PostgresJobDatabase.OwnerLock}): " +
                          "this primary no longer records its jobs; stop it";
        Assert.Contains(expected, Assert.Throws<JobStoreException>(() => first.Add(Record("lost", 2), null)).Message);
        Assert.Contains(expected, Assert.Throws<JobStoreException>(() => first.Load()).Message); // and every call after
        second.Add(Record("second's", 3), null);
        Assert.Equal(["first's", "second's"], second.Load().Select(j => j.Record.State.Id));
    }
}
