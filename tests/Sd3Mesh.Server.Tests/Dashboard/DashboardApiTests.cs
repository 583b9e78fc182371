using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Runtime.Tracing;
using Sd3Mesh.Server.Dashboard;
using Sd3Mesh.Server.Jobs;

namespace Sd3Mesh.Server.Tests.Dashboard;

/// <summary>The dashboard's JSON endpoints and events on a silo with a scripted executor (no grain runtime, no browser).</summary>
public sealed class DashboardApiTests
{
    /// <summary>The scripted executor, plus timeline spans: each step a call on the transformer's lane, and two encodes that overlap.</summary>
    private sealed class SpanningExecutor(ScriptedExecutor inner) : IJobExecutor
    {
        public Sd3ModelConfig? Model => inner.Model;

        public Task<IReadOnlyList<JobImage>> ExecuteAsync(GenerationSpec spec, IJobProgress progress, CancellationToken cancellationToken) =>
            inner.ExecuteAsync(spec, new Spans(progress), cancellationToken);

        private sealed class Spans(IJobProgress progress) : IJobProgress
        {
            private static readonly long T0 = TraceSpan.NowMicros();
            public string JobId => progress.JobId;

            public void StageStarted(PipelineStage stage)
            {
                if (stage == PipelineStage.EncodePrompt)
                    progress.SpansRecorded([
                        new TraceSpan("text_encoder@cpu:0", "s0", SpanKind.Call, "encode", T0 + 100, 50),
                        new TraceSpan("text_encoder@cpu:0", "s0", SpanKind.Call, "encode", T0 + 120, 50), // the negative prompt, at once
                        new TraceSpan("transfers to s0", "s0", SpanKind.Transfer, "fetch", T0 + 170, 5) { Bytes = 4096, Detail = "float32 [1, 1024] (4 KB) from s1" },
                    ]);
                progress.StageStarted(stage);
            }

            public void StepCompleted(int step, int totalSteps, JobPreview? preview = null, Sd3Mesh.Tensors.Tensor? checkpoint = null)
            {
                progress.SpansRecorded([new TraceSpan("transformer@cpu:0", "s0", SpanKind.Call, "step", T0 + 1000 * step, 400) { Step = step }]);
                progress.StepCompleted(step, totalSteps, preview, checkpoint);
            }

            public void SpansRecorded(IReadOnlyList<TraceSpan> spans) => progress.SpansRecorded(spans);
        }
    }

    private static async Task<(TestSilo Silo, ScriptedExecutor Executor, HttpClient Http)> StartAsync()
    {
        var executor = new ScriptedExecutor();
        var silo = await TestSilo.StartWithAsync(new SpanningExecutor(executor), options: new SiloHostOptions { HttpListen = "127.0.0.1:0" });
        return (silo, executor, new HttpClient { BaseAddress = silo.Host.DashboardAddress });
    }

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response) => JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

    [Fact]
    public async Task The_page_and_its_assets_are_served_from_the_assembly_and_name_nothing_elsewhere()
    {
        var (silo, _, http) = await StartAsync();
        await using var _ = silo;
        using var __ = http;
        var page = await http.GetAsync("/");
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        // The browser is told so too: a request to any other origin would be blocked (and the browser tests fail on it).
        Assert.StartsWith("default-src 'self'", Assert.Single(page.Headers.GetValues("Content-Security-Policy")));
        string html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<script src=\"/dashboard.js\"", html);
        foreach (var asset in new[] { "/", "/dashboard.js", "/dashboard.css", "/favicon.svg" })
        {
            string text = await http.GetStringAsync(asset);
            Assert.True(text.Length > 100, asset);
            // Works offline: no script, style, font or image from another host (SVG's namespace URI is a name, not a fetch).
            Assert.DoesNotMatch(@"(src|href)\s*=\s*[""']?(https?:)?//", text);
            Assert.DoesNotContain("@import", text);
        }
    }

    [Fact]
    public async Task Jobs_preview_timeline_and_trace_answer_for_a_job_and_name_what_is_missing()
    {
        var (silo, executor, http) = await StartAsync();
        await using var _ = silo;
        using var __ = http;
        var events = await silo.GenerateAsync(new Protos.V1.GenerateRequest { Prompt = "a \"quoted\" <b>prompt</b>", Width = 32, Height = 32, Steps = 4, Seed = 9, PreviewInterval = 2 });
        string id = events[^1].JobId;

        var job = await JsonAsync(await http.GetAsync($"/api/jobs/{id}"));
        Assert.Equal(("succeeded", "a \"quoted\" <b>prompt</b>", 4, 4, "decode", 4, 7), (job.GetProperty("state").GetString(), job.GetProperty("prompt").GetString(),
            job.GetProperty("step").GetInt32(), job.GetProperty("totalSteps").GetInt32(), job.GetProperty("stage").GetString(), job.GetProperty("previewStep").GetInt32(),
            job.GetProperty("spans").GetInt32()));
        Assert.Equal([9UL], job.GetProperty("seeds").EnumerateArray().Select(s => s.GetUInt64()));
        var image = Assert.Single(job.GetProperty("images").EnumerateArray().ToList());
        Assert.Equal(ScriptedExecutor.ExpectedPng(32, 32, 9), await http.GetByteArrayAsync(image.GetProperty("url").GetString()));
        Assert.Equal(ScriptedExecutor.ExpectedPreview(4), await http.GetByteArrayAsync(job.GetProperty("previewUrl").GetString()));
        Assert.True(job.GetProperty("stepSeconds").GetDouble() >= 0);

        var list = await JsonAsync(await http.GetAsync("/api/jobs"));
        Assert.Equal([id], list.GetProperty("jobs").EnumerateArray().Select(j => j.GetProperty("id").GetString()));

        // The timeline in the page's form, and the Chrome trace: the two overlapping encodes on threads of their own.
        var timeline = await JsonAsync(await http.GetAsync($"/api/jobs/{id}/timeline"));
        Assert.Equal([1, 2, 3, 4], timeline.GetProperty("spans").EnumerateArray().Where(s => s.GetProperty("name").GetString() == "step")
            .Select(s => s.GetProperty("step").GetInt32()));
        var download = await http.GetAsync($"/api/jobs/{id}/trace.json");
        Assert.Equal($"sd3mesh-job-{id}.trace.json", download.Content.Headers.ContentDisposition?.FileNameStar ?? download.Content.Headers.ContentDisposition?.FileName);
        var events2 = ChromeTraceChecks.Events(JsonDocument.Parse(await download.Content.ReadAsStringAsync()).RootElement);
        var (processes, threads) = ChromeTraceChecks.Names(events2);
        Assert.Equal(["silo s0"], processes.Values);
        Assert.Equal(["text_encoder@cpu:0", "text_encoder@cpu:0 (2)", "transformer@cpu:0", "transfers to s0"], threads.Values);
        var encodes = events2.Where(e => e.Name == "encode").OrderBy(e => e.Ts).ToList();
        Assert.Equal(2, encodes.Select(e => e.Tid).Distinct().Count());
        Assert.Equal([(0.0, 50.0), (20.0, 50.0)], encodes.Select(e => (e.Ts - encodes[0].Ts, e.Dur)));
        var fetch = Assert.Single(events2, e => e.Cat == "transfer");
        Assert.Equal((4096, "float32 [1, 1024] (4 KB) from s1"), (fetch.Args.GetProperty("bytes").GetInt64(), fetch.Args.GetProperty("detail").GetString()));
        Assert.Equal(["step 1", "step 2", "step 3", "step 4"], events2.Where(e => e.Args.TryGetProperty("step", out var _)).Select(e => e.Name));

        // What is not there is named.
        foreach (var (path, message) in new[]
                 {
                     ("/api/jobs/nope", "no job 'nope' (unknown, or dropped from the history)"),
                     ("/api/jobs/nope/trace.json", "no job 'nope' (unknown, or dropped from the history)"),
                     ("/api/images/nope_0", "image_id: no image 'nope_0'"),
                 })
        {
            var missing = await http.GetAsync(path);
            Assert.Equal((HttpStatusCode.NotFound, message), (missing.StatusCode, (await JsonAsync(missing)).GetProperty("error").GetString()));
        }
        var noPreview = await silo.GenerateAsync(TestSilo.Request("no preview"));
        var none = await http.GetAsync($"/api/jobs/{noPreview[^1].JobId}/preview.png");
        Assert.Equal(HttpStatusCode.NotFound, none.StatusCode);
        Assert.Contains("has no preview", (await JsonAsync(none)).GetProperty("error").GetString());
    }

    [Fact]
    public async Task Cancel_takes_only_json_posts_and_says_whether_the_job_was_still_going()
    {
        var (silo, executor, http) = await StartAsync();
        await using var _ = silo;
        using var __ = http;
        executor.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = await silo.Client.SubmitAsync(TestSilo.Request("held"));
        await executor.Started.Task.WaitAsync(TimeSpan.FromSeconds(10));

        // A form post (what another site's page can send without asking) is refused, and the job runs on.
        var form = await http.PostAsync($"/api/jobs/{running.JobId}/cancel", new StringContent("x=1", Encoding.UTF8, "application/x-www-form-urlencoded"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, form.StatusCode);
        Assert.Equal("cancel: Content-Type must be application/json (got 'application/x-www-form-urlencoded; charset=utf-8')",
            (await JsonAsync(form)).GetProperty("error").GetString());
        Assert.Equal(Protos.V1.JobState.Running, (await silo.Client.GetJobAsync(running.JobId)).State);

        var json = new StringContent("{}", new MediaTypeHeaderValue("application/json"));
        var cancel = await JsonAsync(await http.PostAsync($"/api/jobs/{running.JobId}/cancel", json));
        Assert.Equal((true, "cancelled"), (cancel.GetProperty("cancelled").GetBoolean(), cancel.GetProperty("state").GetString()));
        Assert.Equal("held", await executor.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        var job = await JsonAsync(await http.GetAsync($"/api/jobs/{running.JobId}"));
        Assert.Equal(("cancelled", "cancelled from the dashboard"), (job.GetProperty("state").GetString(), job.GetProperty("cancelReason").GetString()));

        var again = await JsonAsync(await http.PostAsync($"/api/jobs/{running.JobId}/cancel", json));
        Assert.Equal((false, "cancelled"), (again.GetProperty("cancelled").GetBoolean(), again.GetProperty("state").GetString()));
        var unknown = await http.PostAsync("/api/jobs/nope/cancel", json);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task Events_stream_the_jobs_at_once_then_each_change_and_end_when_the_host_stops()
    {
        var (silo, executor, http) = await StartAsync();
        await using var _ = silo;
        using var __ = http;
        using var stream = await http.GetStreamAsync("/api/events");
        using var reader = new StreamReader(stream);
        var first = await ReadEventAsync(reader);
        if (first.Type == "cluster") first = await ReadEventAsync(reader);
        Assert.Equal("jobs", first.Type);
        Assert.Empty(JsonDocument.Parse(first.Data).RootElement.GetProperty("jobs").EnumerateArray());

        executor.StepDelay = TimeSpan.FromMilliseconds(500);
        var submitted = await silo.Client.SubmitAsync(TestSilo.Request("streamed", steps: 4));
        var seen = new List<(string Event, string State, int Step)>();
        while (seen.LastOrDefault().State != "succeeded")
        {
            var e = await ReadEventAsync(reader);
            if (e.Type == "cluster") continue; // once a second, beside the jobs
            var root = JsonDocument.Parse(e.Data).RootElement;
            var job = e.Type switch
            {
                "jobs" => Assert.Single(root.GetProperty("jobs").EnumerateArray().ToList()), // the list: the new job came
                "job" => root.GetProperty("job"),                                           // one job changed in it
                _ => throw new Xunit.Sdk.XunitException($"unexpected event {e.Type}"),
            };
            Assert.Equal(submitted.JobId, job.GetProperty("id").GetString());
            var now = (e.Type, job.GetProperty("state").GetString()!, job.GetProperty("step").GetInt32());
            Assert.NotEqual((seen.LastOrDefault().State, seen.LastOrDefault().Step), (now.Item2, now.Item3)); // pushed on a change only
            seen.Add(now);
        }
        Assert.Equal("jobs", seen[0].Event);
        Assert.All(seen.Skip(1), s => Assert.Equal("job", s.Event));
        // The steps (500 ms apart; the jobs are looked at every 200 ms) arrive as they happen, in order.
        var steps = seen.Where(s => s.State == "running").Select(s => s.Step).ToList();
        Assert.Equal(steps.Order(), steps);
        Assert.True(steps.Count(s => s > 0) >= 3, $"steps seen: {string.Join(", ", steps)}");

        // Stopping the host ends the stream at once: the stop does not wait out its drain timeout for an open page.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var stopping = silo.Host.StopAsync();
        var ended = await Record.ExceptionAsync(() => reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(ended is null or IOException or HttpRequestException, $"{ended}");
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(clock.Elapsed < new SiloHostOptions().DrainTimeout / 2, $"the stop took {clock.Elapsed}");
    }

    [Fact]
    public async Task With_an_api_token_a_browser_signs_in_once_and_its_cookie_opens_the_web_endpoint_not_the_api()
    {
        const string secret = "dashboard-test-token-0123456789";
        var token = Security.ApiToken.Resolve([], secret, Path.GetTempPath())!;
        await using var silo = await TestSilo.StartWithAsync(new ScriptedExecutor(), options: new SiloHostOptions { HttpListen = "127.0.0.1:0", ApiToken = token });
        var cookies = new CookieContainer();
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = cookies }) { BaseAddress = silo.Host.DashboardAddress };

        // Without it: a browser opening the page is sent to sign in; the JSON and the metrics answer 401.
        var page = new HttpRequestMessage(HttpMethod.Get, "/");
        page.Headers.Accept.ParseAdd("text/html");
        var sent = await http.SendAsync(page);
        Assert.Equal((HttpStatusCode.Redirect, "/login"), (sent.StatusCode, sent.Headers.Location?.ToString()));
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/api/jobs")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/metrics")).StatusCode);
        Assert.Contains("name=\"token\"", await http.GetStringAsync("/login"));

        var wrong = await http.PostAsync("/login", new FormUrlEncodedContent([new("token", "not-the-token-at-all")]));
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Contains("That is not this server&#39;s API token.", await wrong.Content.ReadAsStringAsync());
        Assert.Empty(cookies.GetCookies(silo.Host.DashboardAddress!));

        var right = await http.PostAsync("/login", new FormUrlEncodedContent([new("token", secret)]));
        Assert.Equal((HttpStatusCode.Redirect, "/"), (right.StatusCode, right.Headers.Location?.ToString()));
        var setCookie = Assert.Single(right.Headers.GetValues("Set-Cookie"));
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", setCookie, StringComparison.OrdinalIgnoreCase);
        var cookie = Assert.Single(cookies.GetCookies(silo.Host.DashboardAddress!).Cast<Cookie>());
        Assert.NotEqual(secret, cookie.Value); // derived from the token, not the token

        // Signed in: the page, its JSON and the metrics answer; the cookie's value is no API token.
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/jobs")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/metrics")).StatusCode);
        using var bare = new HttpClient { BaseAddress = silo.Host.DashboardAddress };
        bare.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", cookie.Value);
        Assert.Equal(HttpStatusCode.Unauthorized, (await bare.GetAsync("/api/jobs")).StatusCode);
        bare.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        Assert.Equal(HttpStatusCode.OK, (await bare.GetAsync("/api/jobs")).StatusCode);
    }

    private static async Task<(string Type, string Data)> ReadEventAsync(StreamReader reader)
    {
        string? type = null;
        var data = new StringBuilder();
        while (true)
        {
            string? line = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
            if (line is null) throw new EndOfStreamException("the event stream ended");
            if (line.Length == 0 && data.Length > 0) return (type ?? "message", data.ToString());
            if (line.StartsWith("event: ", StringComparison.Ordinal)) type = line["event: ".Length..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) data.Append(line["data: ".Length..]);
        }
    }
}
