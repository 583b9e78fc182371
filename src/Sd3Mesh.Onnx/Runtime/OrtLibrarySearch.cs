namespace Sd3Mesh.Onnx;

/// <summary>
/// Where to look for ONNX Runtime's native library, in order: the file named by SD3MESH_ORT_LIBRARY
/// (when set, nothing else is tried: an explicit choice must not be silently replaced), else
/// libonnxruntime.so.1 next to the app, else the build's cache
/// ($XDG_CACHE_HOME or ~/.cache)/sd3mesh/onnxruntime-1.30.0/libonnxruntime.so.1.
/// </summary>
public sealed record OrtLibrarySearch(string? OverridePath, string AppDirectory, string CacheFile)
{
    public const string PathVariable = "SD3MESH_ORT_LIBRARY";

    /// <summary>The search that the process's environment asks for.</summary>
    public static OrtLibrarySearch FromEnvironment(Func<string, string?>? getVariable = null)
    {
        getVariable ??= Environment.GetEnvironmentVariable;
        string? overridePath = getVariable(PathVariable);
        string? cacheHome = getVariable("XDG_CACHE_HOME");
        if (string.IsNullOrEmpty(cacheHome))
        {
            string? home = getVariable("HOME");
            if (string.IsNullOrEmpty(home)) home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            cacheHome = Path.Combine(home, ".cache");
        }
        string cacheFile = Path.Combine(cacheHome, "sd3mesh", $"onnxruntime-{OrtLibrary.RequiredVersion}", OrtLibrary.FileName);
        return new OrtLibrarySearch(string.IsNullOrEmpty(overridePath) ? null : overridePath, AppContext.BaseDirectory, cacheFile);
    }

    /// <summary>Each file to try, with a short note of where the path came from.</summary>
    public IReadOnlyList<(string Path, string Origin)> Candidates => OverridePath is not null
        ? [(OverridePath, PathVariable)]
        : [(Path.Combine(AppDirectory, OrtLibrary.FileName), "next to the app"), (CacheFile, "build cache")];
}
