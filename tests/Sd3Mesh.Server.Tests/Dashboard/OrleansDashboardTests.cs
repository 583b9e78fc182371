using System.Net;
using System.Text.Json;

namespace Sd3Mesh.Server.Tests.Dashboard;

/// <summary>The Orleans dashboard at /orleans on the dashboard cluster's primary: both silos, and each silo's own pages.</summary>
[Collection(DashboardCollection.Name)]
public sealed class OrleansDashboardTests(DashboardCluster cluster)
{
    [Fact]
    public async Task It_lists_both_silos_and_each_silos_pages_answer_with_its_devices()
    {
        using var http = new HttpClient { BaseAddress = new Uri(cluster.Dashboard, "/orleans/") };
        Assert.Contains("<html", await http.GetStringAsync(""), StringComparison.OrdinalIgnoreCase);
        using var counters = JsonDocument.Parse(await http.GetStringAsync("DashboardCounters"));
        var hosts = counters.RootElement.GetProperty("hosts").EnumerateArray()
            .ToDictionary(h => h.GetProperty("siloName").GetString()!, h => h.GetProperty("siloAddress").GetString()!);
        Assert.Equal(["dash0", "dash1"], hosts.Keys.Order());

        // Per-silo pages ask that silo (AddDashboard on every silo, or they answer 500); its metadata is what we advertise.
        foreach (var (silo, device) in new[] { ("dash0", "cpu:0"), ("dash1", "cpu:1") })
        {
            string address = Uri.EscapeDataString(hosts[silo]);
            using var metadata = JsonDocument.Parse(await http.GetStringAsync($"SiloMetadata/{address}"));
            Assert.Equal((silo, device), (metadata.RootElement.GetProperty("sd3mesh.silo").GetString(), metadata.RootElement.GetProperty("sd3mesh.devices").GetString()));
            var stats = await http.GetAsync($"SiloStats/{address}");
            Assert.Equal(HttpStatusCode.OK, stats.StatusCode);
        }
    }
}
