using System.Text.Json;
using Microsoft.Playwright;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Server.Generation;

namespace Sd3Mesh.Server.Tests.Dashboard;

/// <summary>
/// The dashboard in a real headless chromium against a two-silo cluster: what the page renders, read from the page
/// (its DOM), while jobs run.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class DashboardBrowserTests(DashboardCluster cluster)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private static GenerateRequest Request(string prompt, uint steps, uint size, uint previewInterval = 0, ulong seed = 42) =>
        new() { Prompt = prompt, Width = size, Height = size, Steps = steps, Seed = seed, PreviewInterval = previewInterval };

    private static PageWaitForFunctionOptions Wait => new() { Timeout = (float)Patience.TotalMilliseconds, PollingInterval = 20 };

    [Fact]
    public async Task Each_submodule_is_drawn_in_its_configured_devices_box_on_the_silo_Orleans_activated_it_on()
    {
        await cluster.Client.GenerateAsync(Request("placement", steps: 2, size: 64)); // every grain called once: activated
        var (page, errors) = await cluster.OpenAsync();
        await using var _ = page.Context;

        foreach (var (submodule, devices) in cluster.Config.Placement)
        {
            var device = Assert.Single(devices);
            string owner = cluster.Config.OwnerOf(device).Name, name = submodule.Name();
            var grain = page.Locator($".silo[data-silo='{owner}'] .device[data-device='{device}'] .grain[data-grain='{name}']");
            await page.WaitForFunctionAsync("([o, d, n]) => document.querySelector(`.silo[data-silo='${o}'] .device[data-device='${d}'] " +
                ".grain[data-grain='${n}'][data-activated-on='${o}'][data-state='active']`) !== null", new[] { owner, device.ToString(), name }, Wait);
            Assert.Equal(1, await grain.CountAsync());
            Assert.Equal(1, await page.Locator($".grain[data-grain='{name}']").CountAsync()); // in that box only
            Assert.Contains(name, await grain.InnerTextAsync());
            Assert.Matches(@"\d+ calls · mean [\d.]+ ms · p95 [\d.]+ ms", await grain.InnerTextAsync());
        }
        // The silos with their state, and each device box in its silo's.
        Assert.Equal(["dash0", "dash1"], await page.Locator(".silo").EvaluateAllAsync<string[]>("s => s.map(e => e.dataset.silo)"));
        Assert.Equal(["active", "active"], await page.Locator(".silo").EvaluateAllAsync<string[]>("s => s.map(e => e.dataset.status)"));
        Assert.Equal("cpu:1", await page.Locator(".silo[data-silo='dash1'] .device").GetAttributeAsync("data-device"));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(cluster.Screenshots, "placement.png"), FullPage = true });
        Assert.Empty(errors);
    }

    [Fact]
    public async Task A_job_shows_its_steps_and_preview_live_then_its_thumbnail_and_a_timeline_whose_trace_has_a_span_per_step()
    {
        var (page, errors) = await cluster.OpenAsync();
        await using var _ = page.Context;
        await page.WaitForFunctionAsync("() => document.querySelector('#connection').dataset.state === 'live'", null, Wait);
        // Marks this page load, and records every step and preview the page shows, as they change.
        await page.EvaluateAsync("""
            () => {
              window.sameLoad = 42; window.steps = []; window.previews = [];
              new MutationObserver(() => {
                for (const card of document.querySelectorAll('article.job[data-state=running]')) {
                  const s = Number(card.dataset.step);
                  if (s && window.steps[window.steps.length - 1] !== s) window.steps.push(s);
                  const p = card.querySelector('img.preview');
                  if (!p.hidden && p.dataset.step && window.previews[window.previews.length - 1] !== p.dataset.step) window.previews.push(p.dataset.step);
                }
              }).observe(document.getElementById('jobs'), { subtree: true, childList: true, attributes: true });
            }
            """);
        const int steps = 120;
        var job = await cluster.Client.SubmitAsync(Request("a lighthouse at dusk", steps, size: 128, previewInterval: 10, seed: 11));
        string card = $"article.job[data-job='{job.JobId}']";

        // Running: the preview of a step (16 x 16: the latents' size) is drawn; then the job ends and shows its result.
        await page.WaitForFunctionAsync($"() => {{ const p = document.querySelector(\"{card} img.preview\"); return p && !p.hidden && p.complete && p.naturalWidth === 16; }}",
            null, Wait);
        await page.WaitForFunctionAsync($"() => document.querySelector(\"{card}\")?.dataset.state === 'succeeded'", null, Wait);
        var seen = await page.EvaluateAsync<int[]>("() => window.steps");
        Assert.True(seen.Length >= 3, $"the page showed steps {string.Join(", ", seen)} of {steps}");
        Assert.Equal(seen.Order(), seen); // only forward
        Assert.True(seen[0] < steps && seen.All(s => s is >= 1 and <= steps));
        Assert.NotEmpty(await page.EvaluateAsync<string[]>("() => window.previews"));
        Assert.Equal(42, await page.EvaluateAsync<int>("() => window.sameLoad")); // no reload: the same page took every update
        Assert.True(await page.EvaluateAsync<int>("() => Number(document.body.dataset.updates)") >= 3);

        // The thumbnail is the job's PNG, 128 x 128, the very bytes the Generation API serves.
        var thumb = page.Locator($"{card} img.thumb");
        await page.WaitForFunctionAsync($"() => {{ const t = document.querySelector(\"{card} img.thumb\"); return t && t.complete && t.naturalWidth === 128; }}", null, Wait);
        var (_, png) = await cluster.Client.DownloadImageAsync($"{job.JobId}_0");
        using (var http = new HttpClient { BaseAddress = cluster.Dashboard })
            Assert.Equal(png, await http.GetByteArrayAsync(await thumb.GetAttributeAsync("src")));
        Assert.Contains("a lighthouse at dusk", await page.Locator(card).InnerTextAsync());

        // The timeline: a lane per grain, one span per transformer step, the T5 calls on dash1's device, the transfers.
        await page.ClickAsync($"{card} button.show-timeline");
        await page.WaitForFunctionAsync($"n => document.querySelectorAll(\"#timeline rect[data-name='step']\").length === n", steps, Wait);
        Assert.Equal(Enumerable.Range(1, steps), (await page.Locator("#timeline rect[data-name='step']").EvaluateAllAsync<int[]>(
            "rs => rs.map(r => Number(r.dataset.step))")).Order());
        Assert.Equal(steps, await page.Locator("#timeline rect[data-name='step'][data-lane='transformer@cpu:0']").CountAsync());
        Assert.True(await page.Locator("#timeline rect[data-name='encode'][data-lane='text_encoder_3@cpu:1']").CountAsync() >= 1);
        Assert.True(await page.Locator("#timeline rect[data-name='decode'][data-lane='vae@cpu:1']").CountAsync() == 1);
        Assert.True(await page.Locator("#timeline rect.transfer").CountAsync() >= 1);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(cluster.Screenshots, "timeline.png"), FullPage = true });

        // The download: Chrome trace JSON (the Trace Event Format's object form), one span per step on the transformer's thread.
        var download = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("#trace-download"));
        Assert.Equal($"sd3mesh-job-{job.JobId}.trace.json", download.SuggestedFilename);
        using var trace = JsonDocument.Parse(await File.ReadAllBytesAsync(await download.PathAsync()));
        ChromeTraceChecks.AssertJob(trace.RootElement, steps, decodedBytes: 3 * 128 * 128 * sizeof(float));
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Cancel_from_the_page_ends_a_running_job_whose_coordinator_is_drawn_on_its_device()
    {
        var (page, errors) = await cluster.OpenAsync();
        await using var _ = page.Context;
        // A finished job first: its thumbnail and timeline on the page make the screenshot (docs/dashboard.png) tell the whole story.
        var finished = (await cluster.Client.GenerateAsync(Request("a harbour at night", steps: 12, size: 128, seed: 3)))[^1].JobId;
        var job = await cluster.Client.SubmitAsync(Request("a lighthouse on a cliff, long exposure", steps: 1000, size: 64, previewInterval: 20, seed: 7));
        string card = $"article.job[data-job='{job.JobId}']";
        await page.WaitForFunctionAsync($"() => Number(document.querySelector(\"{card}\")?.dataset.step) >= 25", null, Wait);

        // Its coordinator grain sits on the transformer's device, on the silo Orleans activated it on.
        await page.WaitForFunctionAsync($"() => document.querySelector(\".device[data-device='cpu:0'] .grain.coordinator[data-job='{job.JobId}'][data-activated-on='dash0']\") !== null",
            null, Wait);
        await page.WaitForFunctionAsync($"() => document.querySelector(\"{card} img.preview\")?.naturalWidth === 8", null, Wait);
        await page.ClickAsync($"article.job[data-job='{finished}'] button.show-timeline");
        await page.WaitForFunctionAsync("() => document.querySelectorAll(\"#timeline rect[data-name='step']\").length === 12", null, Wait);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(cluster.Screenshots, "dashboard.png"), FullPage = true });

        await page.ClickAsync($"{card} button.cancel");
        await page.WaitForFunctionAsync($"() => document.querySelector(\"{card}\")?.dataset.state === 'cancelled'", null, Wait);
        Assert.Contains("cancelled from the dashboard", await page.Locator(card).InnerTextAsync());
        Assert.True(await page.Locator($"{card} button.cancel").IsHiddenAsync());
        var ended = await cluster.Client.GetJobAsync(job.JobId);
        Assert.Equal(JobState.Cancelled, ended.State);
        Assert.InRange(ended.Step, 25u, 999u);
        // The coordinator goes with its job.
        await page.WaitForFunctionAsync($"() => document.querySelector(\".grain.coordinator[data-job='{job.JobId}']\") === null", null, Wait);
        Assert.Empty(errors);
    }
}
