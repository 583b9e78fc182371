using System.Runtime.InteropServices;
using System.Text;
using Sd3Mesh.Onnx.Native;

namespace Sd3Mesh.Onnx;

/// <summary>
/// The loaded ONNX Runtime native library (1.30.0, C API version 30): where it came from, its version and
/// build, and its execution providers. <see cref="Shared"/> is the one instance the binding uses; it is
/// resolved on first use by <see cref="OrtLibrarySearch.FromEnvironment"/>. Thread-safe.
/// </summary>
public sealed unsafe class OrtLibrary
{
    public const string RequiredVersion = "1.30.0";
    public const uint RequiredApiVersion = 30;
    public const string FileName = "libonnxruntime.so.1";

    private static readonly Lazy<OrtLibrary> s_shared =
        new(() => Load(OrtLibrarySearch.FromEnvironment()), LazyThreadSafetyMode.ExecutionAndPublication);

    private OrtLibrary(string path, string origin, string version, nint apiTable)
    {
        Path = path;
        Origin = origin;
        Version = version;
        ApiTable = apiTable;
    }

    /// <summary>The process's library, loaded on first use; throws <see cref="OrtLibraryException"/> if none can be.</summary>
    public static OrtLibrary Shared => s_shared.Value;

    /// <summary>The file that was loaded.</summary>
    public string Path { get; }

    /// <summary>How the file was found: "SD3MESH_ORT_LIBRARY", "next to the app" or "build cache".</summary>
    public string Origin { get; }

    /// <summary>ONNX Runtime's version string (always <see cref="RequiredVersion"/>).</summary>
    public string Version { get; }

    /// <summary>The C API version this binding uses (checked to be served by the library).</summary>
    public uint ApiVersion => RequiredApiVersion;

    /// <summary>Address of the OrtApi function table.</summary>
    internal nint ApiTable { get; }

    /// <summary>ONNX Runtime's build description (git commit, build options).</summary>
    public string BuildInfo => Marshal.PtrToStringUTF8((nint)OrtApi.GetBuildInfoString()) ?? "";

    /// <summary>Execution providers compiled into the library (e.g. CPUExecutionProvider, WebGpuExecutionProvider).</summary>
    public IReadOnlyList<string> AvailableProviders
    {
        get
        {
            byte** names;
            int count;
            OrtStatus.Check(OrtApi.GetAvailableProviders(&names, &count));
            try
            {
                var result = new string[count];
                for (int i = 0; i < count; i++) result[i] = Marshal.PtrToStringUTF8((nint)names[i]) ?? "";
                return result;
            }
            finally
            {
                OrtStatus.Check(OrtApi.ReleaseAvailableProviders(names, count));
            }
        }
    }

    /// <summary>The devices ONNX Runtime's execution providers offer (OrtApi::GetEpDevices; uses the process's environment).</summary>
    public IReadOnlyList<EpDeviceInfo> EpDevices
    {
        get
        {
            using var environment = OrtEnvironment.Create();
            return environment.EpDevices;
        }
    }

    /// <summary>
    /// Loads the first usable candidate of <paramref name="search"/>. A file is usable when it loads, exports
    /// OrtGetApiBase, reports version <see cref="RequiredVersion"/> and serves API version
    /// <see cref="RequiredApiVersion"/>. Otherwise throws one <see cref="OrtLibraryException"/> naming each
    /// file tried, why it failed, and the fix.
    /// </summary>
    public static OrtLibrary Load(OrtLibrarySearch search)
    {
        var failures = new List<string>();
        foreach (var (path, origin) in search.Candidates)
        {
            string? reason = TryOpen(path, out var library, origin);
            if (library is not null) return library;
            string where = origin == OrtLibrarySearch.PathVariable ? $"{origin}={path}" : $"{path} ({origin})";
            failures.Add($"  {where}: {reason}");
        }
        throw new OrtLibraryException(FailureMessage(failures, search));
    }

    private static string FailureMessage(List<string> failures, OrtLibrarySearch search)
    {
        var text = new StringBuilder();
        text.Append($"ONNX Runtime {RequiredVersion} ({FileName}) could not be loaded. Tried:\n");
        foreach (var f in failures) text.Append(f).Append('\n');
        text.Append($"To fix: build the project (the build fetches ONNX Runtime {RequiredVersion} into ")
            .Append(System.IO.Path.GetDirectoryName(search.CacheFile))
            .Append(" and copies it next to the app), or set ")
            .Append(OrtLibrarySearch.PathVariable)
            .Append($" to the path of ONNX Runtime {RequiredVersion}'s {FileName} (linux-x64, from the npm package onnxruntime-node@{RequiredVersion}).");
        return text.ToString();
    }

    private static string? TryOpen(string path, out OrtLibrary? library, string origin)
    {
        library = null;
        if (!File.Exists(path)) return "file not found";
        if (!NativeLibrary.TryLoad(path, out nint handle))
        {
            // NativeLibrary does not say why; a second dlopen gives the loader's own reason.
            Dl.Open(path, out string? loadError);
            return $"cannot be loaded: {loadError}";
        }
        // A library that was dlopen'ed stays loaded: unloading a half-checked ONNX Runtime (its static
        // destructors, thread pools) is riskier than keeping a few megabytes mapped.
        if (!NativeLibrary.TryGetExport(handle, "OrtGetApiBase", out nint getApiBase))
            return "not an ONNX Runtime library (it has no OrtGetApiBase export)";

        // struct OrtApiBase { const OrtApi* (*GetApi)(uint32_t); const char* (*GetVersionString)(void); }
        nint* apiBase = ((delegate* unmanaged<nint*>)getApiBase)();
        if (apiBase == null) return "OrtGetApiBase returned null";
        var getApi = (delegate* unmanaged<uint, nint>)apiBase[0];
        var getVersion = (delegate* unmanaged<byte*>)apiBase[1];
        string version = Marshal.PtrToStringUTF8((nint)getVersion()) ?? "";
        if (version != RequiredVersion) return $"it is ONNX Runtime {version}, this binding needs {RequiredVersion}";
        nint table = getApi(RequiredApiVersion);
        if (table == 0) return $"it does not serve C API version {RequiredApiVersion} (OrtApiBase::GetApi failed)";
        library = new OrtLibrary(path, origin, version, table);
        return null;
    }
}
