namespace Sd3Mesh.Server.Security;

/// <summary>
/// Where a server keeps what outlives it on this machine (the API token it generated): $SD3MESH_DATA, else
/// $XDG_DATA_HOME/sd3mesh, else ~/.local/share/sd3mesh.
/// </summary>
public static class DataFolder
{
    public const string Variable = "SD3MESH_DATA";

    public static string Path =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } data ? data
        : System.IO.Path.Combine(Environment.GetEnvironmentVariable("XDG_DATA_HOME") is { Length: > 0 } xdg ? xdg
            : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share"), "sd3mesh");
}
