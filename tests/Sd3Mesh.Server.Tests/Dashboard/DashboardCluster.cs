using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Server.Grpc;

namespace Sd3Mesh.Server.Tests.Dashboard;

/// <summary>
/// A two-silo CPU cluster in this process, composed from one cluster config as `sd3mesh cluster up` composes its silos
/// (<see cref="ClusterSilo"/>, real ports): dash0 (primary, cpu:0, web endpoint) runs CLIP-L, the transformer and the
/// coordinators; dash1 (cpu:1) runs CLIP-G, T5 and the VAE, so a decoded image is pulled from dash1 over the tensor
/// transport. The tiny seeded models. And a headless Debian chromium driven by Playwright.
/// </summary>
public sealed class DashboardCluster : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private SiloHost? _secondary;

    public ClusterConfig Config { get; } = TwoSilos();
    public SiloHost Primary { get; private set; } = null!;
    public GrpcChannel Channel { get; private set; } = null!;
    public GenerationTestClient Client { get; private set; } = null!;
    public Uri Dashboard => Primary.DashboardAddress!;
    public IPlaywright Playwright { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;
    /// <summary>Screenshots are kept here, under the test output folder.</summary>
    public string Screenshots { get; } = Path.Combine(AppContext.BaseDirectory, "screenshots");

    private static ClusterConfig TwoSilos()
    {
        var p = EmbeddedCluster.FreeLoopbackPorts(7);
        return ClusterConfigReader.Parse($$"""
            { "name": "dashboard-test", "model": { "preset": "tiny" },
              "silos": [
                { "name": "dash0", "primary": true, "devices": ["cpu:0"], "silo_port": {{p[0]}}, "gateway_port": {{p[1]}}, "grpc_port": {{p[2]}}, "web_port": {{p[3]}} },
                { "name": "dash1", "devices": ["cpu:1"], "silo_port": {{p[4]}}, "gateway_port": {{p[5]}}, "grpc_port": {{p[6]}} }
              ],
              "placement": { "text_encoder": "cpu:0", "text_encoder_2": "cpu:1", "text_encoder_3": "cpu:1", "transformer": "cpu:0", "vae": "cpu:1" },
              "jobs": { "max_in_flight": 2 } }
            """, "dashboard-test");
    }

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath)) throw new InvalidOperationException($"{ChromiumPath} is missing: run tests/setup-debian.sh");
        Directory.CreateDirectory(Screenshots);
        Primary = ClusterSilo.Create(Config, "dash0", Options());
        _secondary = ClusterSilo.Create(Config, "dash1", Options());
        await Primary.StartAsync(); // the primary keeps the membership table: it starts first
        await _secondary.StartAsync();
        Channel = GrpcChannels.Create(Primary.Address);
        Client = new GenerationTestClient(Channel);
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = ChromiumPath, Headless = true });
    }

    private static SiloHostOptions Options() => new() { Logging = logging => logging.SetMinimumLevel(LogLevel.Warning) };

    /// <summary>A page on the dashboard, 1400 x 1000, with the page's errors collected (a test fails on any).</summary>
    public async Task<(IPage Page, List<string> Errors)> OpenAsync()
    {
        var page = await Browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 }, AcceptDownloads = true });
        var errors = new List<string>();
        page.PageError += (_, e) => { lock (errors) errors.Add(e); };
        page.Console += (_, m) => { if (m.Type == "error") lock (errors) errors.Add(m.Text); };
        await page.GotoAsync(Dashboard.ToString());
        return (page, errors);
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.DisposeAsync();
        Playwright?.Dispose();
        Channel?.Dispose();
        if (_secondary is not null) await _secondary.DisposeAsync();
        if (Primary is not null) await Primary.DisposeAsync();
    }

}

[CollectionDefinition(Name)]
public sealed class DashboardCollection : ICollectionFixture<DashboardCluster>
{
    public const string Name = "dashboard cluster";
}
