using System.Data.Common;
using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Sd3Mesh.Protos.V1;

namespace Sd3Mesh.Server.Jobs.Storage;

/// <summary>
/// The job store's SQL, which SQLite and PostgreSQL both run as written, over ADO.NET. A dialect supplies its
/// connections (<see cref="Run{T}"/>) and its migrations. Rows map to the API's own messages: a job's state columns to
/// and from <see cref="Protos.V1.Job"/>, events as serialized <see cref="JobEvent"/>s, times as Unix milliseconds.
/// </summary>
public abstract class SqlJobDatabase : IJobDatabase
{
    public abstract string Description { get; }

    /// <summary>Runs <paramref name="work"/> on an open connection, one caller at a time where the dialect needs it.</summary>
    protected abstract T Run<T>(Func<DbConnection, T> work);

    public abstract void Dispose();

    /// <summary>Brings the schema to the newest of <paramref name="migrations"/> (see <see cref="JobSchema"/>).</summary>
    protected void Migrate(IReadOnlyList<string> migrations) => Run(c =>
    {
        Execute(c, null, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)");
        long current = Convert.ToInt64(Scalar(c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"), CultureInfo.InvariantCulture);
        if (current > migrations.Count)
            throw new JobStoreException($"{Description} holds job store schema version {current}, newer than this sd3mesh knows ({migrations.Count}): run the newer sd3mesh");
        for (int version = (int)current + 1; version <= migrations.Count; version++)
        {
            using var tx = c.BeginTransaction();
            Execute(c, tx, migrations[version - 1]);
            Execute(c, tx, "INSERT INTO schema_migrations (version, applied_at) VALUES (@version, @at)",
                ("version", version), ("at", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
            tx.Commit();
        }
        return 0;
    });

    public void Add(JobRecord job, byte[]? initImage) => Run(c =>
    {
        var s = job.State;
        using var tx = c.BeginTransaction();
        Execute(c, tx, """
            INSERT INTO jobs (id, sequence, request_id, request_hash, detached, request, init_image, init_image_bytes, seeds,
                              state, stage, step, total_steps, created_at, started_at, finished_at, error_code, error_message)
            VALUES (@id, @sequence, @request_id, @request_hash, @detached, @request, @init_image, @init_image_bytes, @seeds,
                    @state, @stage, @step, @total_steps, @created_at, @started_at, @finished_at, @error_code, @error_message)
            """,
            [.. StateParameters(s), ("sequence", job.Sequence), ("request_id", s.Request.RequestId.Length > 0 ? s.Request.RequestId : null),
             ("request_hash", job.RequestHash), ("detached", job.Detached ? 1L : 0L), ("request", s.Request.ToByteArray()), ("init_image", initImage),
             ("init_image_bytes", (long)s.InitImageBytes), ("seeds", string.Join(',', job.Seeds)), ("created_at", Millis(s.CreatedAt))]);
        tx.Commit();
        return 0;
    });

    public void Append(Protos.V1.Job state, JobEvent e, IReadOnlyList<StoredImage> images) => Run(c =>
    {
        using var tx = c.BeginTransaction();
        Execute(c, tx, """
            UPDATE jobs SET state = @state, stage = @stage, step = @step, total_steps = @total_steps, started_at = @started_at,
                            finished_at = @finished_at, error_code = @error_code, error_message = @error_message
            WHERE id = @id
            """, StateParameters(state));
        Execute(c, tx, "INSERT INTO job_events (job_id, sequence, event) VALUES (@id, @sequence, @event)",
            ("id", state.Id), ("sequence", (long)e.Sequence), ("event", e.ToByteArray()));
        foreach (var image in images)
            Execute(c, tx, """
                INSERT INTO job_images (id, job_id, position, media_type, width, height, seed, size_bytes, file)
                VALUES (@id, @job_id, @position, @media_type, @width, @height, @seed, @size_bytes, @file)
                """,
                ("id", image.Id), ("job_id", state.Id), ("position", (long)image.Index), ("media_type", image.Image.MediaType),
                ("width", (long)image.Image.Width), ("height", (long)image.Image.Height),
                ("seed", image.Image.Seed.ToString(CultureInfo.InvariantCulture)), ("size_bytes", image.SizeBytes), ("file", image.File));
        if (state.State is JobState.Succeeded or JobState.Failed or JobState.Cancelled)
        {
            // Only a job that runs again needs its checkpoint and init image.
            Execute(c, tx, "DELETE FROM job_checkpoints WHERE job_id = @id", ("id", state.Id));
            Execute(c, tx, "UPDATE jobs SET init_image = NULL WHERE id = @id", ("id", state.Id));
        }
        tx.Commit();
        return 0;
    });

    public void SaveCheckpoint(string jobId, int step, byte[] latents) => Run(c => Execute(c, null, """
        INSERT INTO job_checkpoints (job_id, step, latents) VALUES (@id, @step, @latents)
        ON CONFLICT (job_id) DO UPDATE SET step = excluded.step, latents = excluded.latents
        """, ("id", jobId), ("step", (long)step), ("latents", latents)));

    public (int Step, byte[] Latents)? LoadCheckpoint(string jobId) => Run(c =>
    {
        using var reader = Query(c, "SELECT step, latents FROM job_checkpoints WHERE job_id = @id", ("id", jobId));
        return reader.Read() ? ((int)reader.GetInt64(0), reader.GetFieldValue<byte[]>(1)) : ((int, byte[])?)null;
    });

    public byte[]? LoadInitImage(string jobId) => Run(c =>
    {
        using var reader = Query(c, "SELECT init_image FROM jobs WHERE id = @id", ("id", jobId));
        return reader.Read() && !reader.IsDBNull(0) ? reader.GetFieldValue<byte[]>(0) : null;
    });

    public IReadOnlyList<SavedJob> Load() => Run(c =>
    {
        var events = new Dictionary<string, List<JobEvent>>();
        using (var reader = Query(c, "SELECT job_id, event FROM job_events ORDER BY job_id, sequence"))
            while (reader.Read())
                Group(events, reader.GetString(0)).Add(JobEvent.Parser.ParseFrom(reader.GetFieldValue<byte[]>(1)));
        var images = new Dictionary<string, List<StoredImage>>();
        using (var reader = Query(c, "SELECT id, job_id, position, media_type, width, height, seed, size_bytes, file FROM job_images ORDER BY job_id, position"))
            while (reader.Read())
                Group(images, reader.GetString(1)).Add(new StoredImage(reader.GetString(0), (int)reader.GetInt64(2),
                    new JobImage(reader.GetString(3), [], (int)reader.GetInt64(4), (int)reader.GetInt64(5), ulong.Parse(reader.GetString(6), CultureInfo.InvariantCulture)))
                {
                    SizeBytes = reader.GetInt64(7),
                    File = reader.GetString(8),
                });

        var jobs = new List<SavedJob>();
        using (var reader = Query(c, """
                   SELECT id, sequence, request_hash, detached, request, init_image_bytes, seeds, state, stage, step, total_steps,
                          created_at, started_at, finished_at, error_code, error_message
                   FROM jobs ORDER BY sequence
                   """))
            while (reader.Read())
            {
                string id = reader.GetString(0);
                var state = new Protos.V1.Job
                {
                    Id = id,
                    Request = GenerateRequest.Parser.ParseFrom(reader.GetFieldValue<byte[]>(4)),
                    InitImageBytes = (ulong)reader.GetInt64(5),
                    State = (JobState)reader.GetInt64(7),
                    Stage = (Stage)reader.GetInt64(8),
                    Step = (uint)reader.GetInt64(9),
                    TotalSteps = (uint)reader.GetInt64(10),
                    CreatedAt = Time(reader.GetInt64(11)),
                    StartedAt = reader.IsDBNull(12) ? null : Time(reader.GetInt64(12)),
                    FinishedAt = reader.IsDBNull(13) ? null : Time(reader.GetInt64(13)),
                    Error = reader.IsDBNull(14) ? null : new Failed { Code = (int)reader.GetInt64(14), Message = reader.GetString(15) },
                };
                string seeds = reader.GetString(6);
                var record = new JobRecord(state, reader.GetInt64(1),
                    seeds.Length == 0 ? [] : [.. seeds.Split(',').Select(s => ulong.Parse(s, CultureInfo.InvariantCulture))],
                    reader.GetInt64(3) != 0, reader.GetFieldValue<byte[]>(2));
                jobs.Add(new SavedJob(record, images.GetValueOrDefault(id) ?? [], events.GetValueOrDefault(id) ?? []));
            }
        return jobs;
    });

    public void Delete(string jobId) => Run(c =>
    {
        using var tx = c.BeginTransaction();
        foreach (var table in new[] { "job_events", "job_images", "job_checkpoints" })
            Execute(c, tx, $"DELETE FROM {table} WHERE job_id = @id", ("id", jobId));
        Execute(c, tx, "DELETE FROM jobs WHERE id = @id", ("id", jobId));
        tx.Commit();
        return 0;
    });

    /// <summary>The state columns of a job's row (and its id).</summary>
    private static (string, object?)[] StateParameters(Protos.V1.Job s) =>
    [
        ("id", s.Id), ("state", (long)s.State), ("stage", (long)s.Stage), ("step", (long)s.Step), ("total_steps", (long)s.TotalSteps),
        ("started_at", s.StartedAt is null ? null : Millis(s.StartedAt)), ("finished_at", s.FinishedAt is null ? null : Millis(s.FinishedAt)),
        ("error_code", s.Error is null ? null : (long)s.Error.Code), ("error_message", s.Error?.Message),
    ];

    private static long Millis(Timestamp t) => t.ToDateTimeOffset().ToUnixTimeMilliseconds();
    private static Timestamp Time(long millis) => Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(millis));

    private static List<T> Group<T>(Dictionary<string, List<T>> groups, string key) =>
        groups.TryGetValue(key, out var list) ? list : groups[key] = [];

    protected static int Execute(DbConnection c, DbTransaction? tx, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(c, tx, sql, parameters);
        return command.ExecuteNonQuery();
    }

    protected static object? Scalar(DbConnection c, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(c, null, sql, parameters);
        return command.ExecuteScalar();
    }

    private static DbDataReader Query(DbConnection c, string sql, params (string Name, object? Value)[] parameters)
    {
        // The reader keeps its command alive; disposing the reader is enough for both providers.
        var command = Command(c, null, sql, parameters);
        return command.ExecuteReader(System.Data.CommandBehavior.Default);
    }

    private static DbCommand Command(DbConnection c, DbTransaction? tx, string sql, (string Name, object? Value)[] parameters)
    {
        var command = c.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var p = command.CreateParameter();
            p.ParameterName = "@" + name;
            p.Value = value ?? DBNull.Value;
            command.Parameters.Add(p);
        }
        return command;
    }
}
