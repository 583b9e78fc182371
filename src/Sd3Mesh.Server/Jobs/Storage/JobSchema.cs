namespace Sd3Mesh.Server.Jobs.Storage;

/// <summary>
/// The job store's tables, as versioned migrations per dialect: migration N takes the schema from version N - 1 to N
/// and is recorded in schema_migrations in the same transaction. Append new migrations; never edit a shipped one.
/// The two dialects differ only in type names (BLOB / BYTEA); seeds are text because they are unsigned 64-bit.
/// </summary>
internal static class JobSchema
{
    public static readonly IReadOnlyList<string> Sqlite = [V1("INTEGER", "BLOB")];
    public static readonly IReadOnlyList<string> Postgres = [V1("BIGINT", "BYTEA")];

    /// <summary>Version 1: jobs (request, state, times, error), their events, images and latest latent checkpoint.</summary>
    private static string V1(string integer, string blob) => $"""
        CREATE TABLE jobs (
            id               TEXT PRIMARY KEY,
            sequence         {integer} NOT NULL UNIQUE,
            request_id       TEXT UNIQUE,
            request_hash     {blob} NOT NULL,
            detached         {integer} NOT NULL,
            request          {blob} NOT NULL,
            init_image       {blob},
            init_image_bytes {integer} NOT NULL,
            seeds            TEXT NOT NULL,
            state            {integer} NOT NULL,
            stage            {integer} NOT NULL,
            step             {integer} NOT NULL,
            total_steps      {integer} NOT NULL,
            created_at       {integer} NOT NULL,
            started_at       {integer},
            finished_at      {integer},
            error_code       {integer},
            error_message    TEXT
        );
        CREATE TABLE job_events (
            job_id   TEXT NOT NULL,
            sequence {integer} NOT NULL,
            event    {blob} NOT NULL,
            PRIMARY KEY (job_id, sequence)
        );
        CREATE TABLE job_images (
            id         TEXT PRIMARY KEY,
            job_id     TEXT NOT NULL,
            position   {integer} NOT NULL,
            media_type TEXT NOT NULL,
            width      {integer} NOT NULL,
            height     {integer} NOT NULL,
            seed       TEXT NOT NULL,
            size_bytes {integer} NOT NULL,
            file       TEXT NOT NULL
        );
        CREATE INDEX job_images_job ON job_images (job_id);
        CREATE TABLE job_checkpoints (
            job_id  TEXT PRIMARY KEY,
            step    {integer} NOT NULL,
            latents {blob} NOT NULL
        );
        """;
}
