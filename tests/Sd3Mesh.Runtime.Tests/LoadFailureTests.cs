using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Grains;

namespace Sd3Mesh.Runtime.Tests;

/// <summary>local-2cpu's layout serving a copy of the tiny model, whose files the test may damage (T5 on silo s1).</summary>
public sealed class DamagedModelCluster : IAsyncLifetime
{
    public string Folder { get; } = Directory.CreateTempSubdirectory("sd3mesh-load-failure-").FullName;
    public ClusterConfig Config { get; private set; } = null!;
    public RuntimeTestCluster Cluster { get; private set; } = null!;
    public OnnxSd3Model Local { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        foreach (var file in Directory.EnumerateFiles(TinyWeights.Folder, "*", SearchOption.AllDirectories))
        {
            string copy = Path.Combine(Folder, Path.GetRelativePath(TinyWeights.Folder, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
        }
        Local = OnnxSd3Model.Open(Folder);
        Config = ClusterConfigReader.Parse(GrainClusterFixture.ConfigJson
            .Replace("\"name\": \"grain-test\"", "\"name\": \"load-failure-test\"")
            .Replace(TestClusters.Model, $$""" "model": { "path": "{{Folder}}" } """), "test");
        Cluster = await TestClusters.DeployAsync(Config);
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        Local.Dispose();
        Directory.Delete(Folder, recursive: true);
    }
}

public sealed class LoadFailureTests(DamagedModelCluster fixture) : IClassFixture<DamagedModelCluster>
{
    [Fact]
    public async Task A_submodule_that_cannot_load_fails_the_job_naming_it_and_loads_on_the_next_call_once_its_file_is_whole()
    {
        var client = fixture.Cluster.Client;
        string onnx = Path.Combine(fixture.Folder, "text_encoder_3", "model.onnx");
        byte[] whole = await File.ReadAllBytesAsync(onnx);
        var t5 = client.GetGrain<IT5EncoderGrain>($"{fixture.Local.Components.ModelName}/text_encoder_3@cpu:1");

        await File.WriteAllTextAsync(onnx, "not an ONNX model");
        var request = TestClusters.Request("a lighthouse at dusk");
        var e = await Assert.ThrowsAsync<SubmoduleLoadException>(() => TestClusters.RunAsync(client, request).WaitAsync(TimeSpan.FromSeconds(60)));
        string name = $"{fixture.Local.Components.ModelName}/text_encoder_3@cpu:1";
        Assert.StartsWith($"text_encoder_3 ({name} on silo s1) could not load its session: ", e.Message);
        Assert.Contains("text_encoder_3/model.onnx", e.Message); // ONNX Runtime's reason, with the file
        // The negative prompt's T5 call may still be trying when the job has failed: it fails the same way.
        GrainReport failed = null!;
        await TestClusters.WaitForAsync(async () => (failed = await t5.Report()).State == SessionState.Failed, TimeSpan.FromSeconds(30),
            () => $"T5 reports {failed.State}");
        Assert.Equal(0, failed.Loads);
        Assert.StartsWith("SubmoduleLoadException: text_encoder_3", failed.LastError);

        // The file whole again: the next job loads T5 and gives the one-process image.
        await File.WriteAllBytesAsync(onnx, whole);
        var output = Assert.Single(await TestClusters.RunAsync(client, request).WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal((await new Sd3Pipeline(fixture.Local.Components).GenerateAsync(request)).Images[0].ToPng(), output.Data);
        var loaded = await t5.Report();
        Assert.Equal((SessionState.Active, 1), (loaded.State, loaded.Loads));
    }
}
