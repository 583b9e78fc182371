namespace Sd3Mesh.Onnx.Tests.Runtime;

public sealed class OrtLibraryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sd3mesh-ortlib-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Fix(string cacheFile) =>
        $"To fix: build the project (the build fetches ONNX Runtime 1.30.0 into {Path.GetDirectoryName(cacheFile)} and copies it next " +
        "to the app), or set SD3MESH_ORT_LIBRARY to the path of ONNX Runtime 1.30.0's libonnxruntime.so.1 (linux-x64, from the npm " +
        "package onnxruntime-node@1.30.0).";

    [Fact]
    public void The_shared_library_is_ONNX_Runtime_1_30_0_with_its_providers()
    {
        var lib = OrtLibrary.Shared;
        Assert.Equal("1.30.0", lib.Version);
        Assert.Equal(30u, lib.ApiVersion);
        Assert.True(File.Exists(lib.Path));
        Assert.StartsWith("ORT Build Info:", lib.BuildInfo);
        Assert.Contains("CPUExecutionProvider", lib.AvailableProviders);
        Assert.Contains("WebGpuExecutionProvider", lib.AvailableProviders);
    }

    [Fact]
    public void A_bogus_override_path_gives_one_message_with_what_was_tried_and_the_fix()
    {
        var search = new OrtLibrarySearch("/nonexistent/libonnxruntime.so.1", _dir, Path.Combine(_dir, "cache", "libonnxruntime.so.1"));
        var e = Assert.Throws<OrtLibraryException>(() => OrtLibrary.Load(search));
        Assert.Equal(
            "ONNX Runtime 1.30.0 (libonnxruntime.so.1) could not be loaded. Tried:\n" +
            "  SD3MESH_ORT_LIBRARY=/nonexistent/libonnxruntime.so.1: file not found\n" +
            Fix(search.CacheFile), e.Message);
    }

    [Fact]
    public void Without_an_override_the_app_folder_then_the_build_cache_are_tried()
    {
        string cache = Path.Combine(_dir, "cache", "sd3mesh", "onnxruntime-1.30.0", "libonnxruntime.so.1");
        var e = Assert.Throws<OrtLibraryException>(() => OrtLibrary.Load(new OrtLibrarySearch(null, _dir, cache)));
        Assert.Equal(
            "ONNX Runtime 1.30.0 (libonnxruntime.so.1) could not be loaded. Tried:\n" +
            $"  {_dir}/libonnxruntime.so.1 (next to the app): file not found\n" +
            $"  {cache} (build cache): file not found\n" +
            Fix(cache), e.Message);
    }

    [Fact]
    public void A_file_that_is_not_a_library_or_not_ONNX_Runtime_is_named_with_the_reason()
    {
        string junk = Path.Combine(_dir, "libonnxruntime.so.1");
        File.WriteAllBytes(junk, new byte[4096]);
        var e = Assert.Throws<OrtLibraryException>(() => OrtLibrary.Load(new OrtLibrarySearch(junk, _dir, "/none")));
        Assert.Contains($"  SD3MESH_ORT_LIBRARY={junk}: cannot be loaded: {junk}: invalid ELF header\n", e.Message);

        string libm = new[] { "/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6" }.First(File.Exists);
        e = Assert.Throws<OrtLibraryException>(() => OrtLibrary.Load(new OrtLibrarySearch(libm, _dir, "/none")));
        Assert.Contains($"  SD3MESH_ORT_LIBRARY={libm}: not an ONNX Runtime library (it has no OrtGetApiBase export)\n", e.Message);
    }

    [Fact]
    public void The_search_honours_the_override_XDG_CACHE_HOME_and_HOME()
    {
        var env = new Dictionary<string, string?> { ["HOME"] = "/home/u" };
        var search = OrtLibrarySearch.FromEnvironment(k => env.GetValueOrDefault(k));
        Assert.Null(search.OverridePath);
        Assert.Equal("/home/u/.cache/sd3mesh/onnxruntime-1.30.0/libonnxruntime.so.1", search.CacheFile);
        Assert.Equal(AppContext.BaseDirectory, search.AppDirectory);
        Assert.Equal(
            [(Path.Combine(AppContext.BaseDirectory, "libonnxruntime.so.1"), "next to the app"), (search.CacheFile, "build cache")],
            search.Candidates);

        env["XDG_CACHE_HOME"] = "/xdg";
        env["SD3MESH_ORT_LIBRARY"] = "/opt/ort/libonnxruntime.so.1";
        search = OrtLibrarySearch.FromEnvironment(k => env.GetValueOrDefault(k));
        Assert.Equal("/xdg/sd3mesh/onnxruntime-1.30.0/libonnxruntime.so.1", search.CacheFile);
        Assert.Equal([("/opt/ort/libonnxruntime.so.1", "SD3MESH_ORT_LIBRARY")], search.Candidates);

        env["SD3MESH_ORT_LIBRARY"] = ""; // empty means unset
        Assert.Null(OrtLibrarySearch.FromEnvironment(k => env.GetValueOrDefault(k)).OverridePath);
    }

    [Fact]
    public void An_explicit_path_to_the_real_library_loads_it()
    {
        var lib = OrtLibrary.Load(new OrtLibrarySearch(OrtLibrary.Shared.Path, _dir, "/none"));
        Assert.Equal("1.30.0", lib.Version);
        Assert.Equal("SD3MESH_ORT_LIBRARY", lib.Origin);
    }
}
