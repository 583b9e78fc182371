namespace Sd3Mesh.Runtime.Config;

/// <summary>
/// Where the primary keeps its jobs (config section <c>store</c>, `serve --data/--postgres/--checkpoint-every`): the
/// data folder holds the result files and, without PostgreSQL, the SQLite job store; a PostgreSQL connection string
/// puts the job store there instead (for primaries on more than one host). A running job sends its latents back every
/// <see cref="CheckpointEvery"/> steps, so that it resumes there after a crash.
/// </summary>
public sealed record StoreSpec(string DataFolder, string? Postgres = null, int CheckpointEvery = StoreSpec.DefaultCheckpointEvery)
{
    public const int DefaultCheckpointEvery = 5, MaxCheckpointEvery = 1000;

    /// <summary>$XDG_DATA_HOME/sd3mesh/NAME, or ~/.local/share/sd3mesh/NAME.</summary>
    public static string DefaultDataFolder(string name)
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        var root = !string.IsNullOrEmpty(xdg) ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share");
        return Path.Combine(root, "sd3mesh", name);
    }
}
