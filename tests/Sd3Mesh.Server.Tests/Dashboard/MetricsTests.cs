using System.Text.Json;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Tests.Grpc;
using ClusterApi = Sd3Mesh.Protos.V1.Cluster;

namespace Sd3Mesh.Server.Tests.Dashboard;

/// <summary>/metrics on the dashboard cluster's primary, scraped and parsed by Prometheus' own Python client (Debian's python3-prometheus-client).</summary>
[Collection(DashboardCollection.Name)]
public sealed class MetricsTests(DashboardCluster cluster)
{
    private sealed record Scrape(string ContentType, Dictionary<string, string> Families, List<(string Name, Dictionary<string, string> Labels, double Value)> Samples)
    {
        /// <summary>The value of the one sample of <paramref name="name"/> with these labels (others may be present), 0 when there is none.</summary>
        public double Value(string name, params (string Key, string Value)[] labels) =>
            Samples.Where(s => s.Name == name && labels.All(l => s.Labels.GetValueOrDefault(l.Key) == l.Value)).Select(s => s.Value).SingleOrDefault();
    }

    private async Task<Scrape> ScrapeAsync()
    {
        var json = await PythonProcess.RunForJsonAsync(PythonProcess.Script("metrics_samples.py"), new Uri(cluster.Dashboard, "/metrics").ToString());
        return new Scrape(json.GetProperty("content_type").GetString()!,
            json.GetProperty("families").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!),
            [.. json.GetProperty("samples").EnumerateArray().Select(s => (s.GetProperty("name").GetString()!,
                s.GetProperty("labels").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!), s.GetProperty("value").GetDouble()))]);
    }

    private async Task<Grain> TransformerAsync() =>
        (await new ClusterApi.ClusterClient(cluster.Channel).ListGrainsAsync(new ListGrainsRequest())).Grains.Single(g => g.Submodule == "transformer");

    [Fact]
    public async Task A_known_job_moves_the_series_by_what_it_did()
    {
        var before = await ScrapeAsync();
        var transformerBefore = await TransformerAsync();
        const int steps = 7;
        var events = await cluster.Client.GenerateAsync(new GenerateRequest { Prompt = "metrics", Width = 128, Height = 128, Steps = steps, Seed = 5 });
        Assert.Equal(JobEvent.EventOneofCase.Finished, events[^1].EventCase);
        var job = await cluster.Client.GetJobAsync(events[^1].JobId);
        var after = await ScrapeAsync();
        var transformerAfter = await TransformerAsync();

        Assert.StartsWith("text/plain", after.ContentType);
        foreach (var (family, type) in new[]
                 {
                     ("sd3mesh_jobs_ended", "counter"), ("sd3mesh_jobs", "gauge"), ("sd3mesh_job_duration_seconds", "histogram"),
                     ("sd3mesh_step_duration_seconds", "histogram"), ("sd3mesh_grain_call_duration_seconds", "histogram"),
                     ("sd3mesh_transport_bytes", "counter"), ("sd3mesh_device_memory_weights_bytes", "gauge"),
                 })
            Assert.True(after.Families.GetValueOrDefault(family) == type,
                $"{family}: {after.Families.GetValueOrDefault(family) ?? "missing"} (families: {string.Join(", ", after.Families.Keys)})");
        double Delta(string name, params (string, string)[] labels) => after.Value(name, labels) - before.Value(name, labels);
        var primary = ("silo", "dash0");

        // Jobs: one more succeeded, none left queued or running; its duration is the job's own, start to end.
        Assert.Equal(1, Delta("sd3mesh_jobs_ended_total", primary, ("state", "succeeded")));
        Assert.Equal((0, 0), (after.Value("sd3mesh_jobs", primary, ("state", "queued")), after.Value("sd3mesh_jobs", primary, ("state", "running"))));
        Assert.Equal(1, Delta("sd3mesh_job_duration_seconds_count", primary, ("state", "succeeded")));
        double ran = (job.FinishedAt.ToDateTime() - job.StartedAt.ToDateTime()).TotalSeconds;
        Assert.Equal(ran, Delta("sd3mesh_job_duration_seconds_sum", primary, ("state", "succeeded")), 0.002);

        // Steps and the transformer's calls, counted apart from its grain report.
        var cpu0 = ("device", "cpu:0");
        Assert.Equal(steps, Delta("sd3mesh_step_duration_seconds_count", primary, cpu0));
        Assert.InRange(Delta("sd3mesh_step_duration_seconds_sum", primary, cpu0), 1e-6, ran);
        Assert.Equal(steps, Delta("sd3mesh_step_duration_seconds_bucket", primary, cpu0, ("le", "+Inf")));
        Assert.Equal((double)(transformerAfter.Calls - transformerBefore.Calls),
            Delta("sd3mesh_grain_call_duration_seconds_count", primary, cpu0, ("submodule", "transformer"), ("outcome", "ok")));
        Assert.True(transformerAfter.Calls - transformerBefore.Calls >= steps);

        // The decoded image (3 x 128 x 128 float32) came from the VAE on dash1 into dash0's coordinator: bytes on the wire.
        Assert.Equal(3 * 128 * 128 * sizeof(float), Delta("sd3mesh_transport_bytes_total", ("from", "dash1"), ("to", "dash0")));

        // Device memory: what cpu:0's budget holds, as the Cluster API reports it.
        var device = (await new ClusterApi.ClusterClient(cluster.Channel).ListDevicesAsync(new ListDevicesRequest())).Devices.Single(d => d.Name == "cpu:0");
        Assert.Equal((double)device.WeightsLoadedBytes, after.Value("sd3mesh_device_memory_weights_bytes", primary, cpu0));
        Assert.True(device.WeightsLoadedBytes > 0);
    }
}
