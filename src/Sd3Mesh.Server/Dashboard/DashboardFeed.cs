using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sd3Mesh.Server.Jobs;

namespace Sd3Mesh.Server.Dashboard;

/// <summary>How often the dashboard's feed looks at the jobs and draws the cluster.</summary>
public sealed record DashboardOptions
{
    /// <summary>Jobs are looked at this often; a change (a step, a stage, a new or ended job) is pushed.</summary>
    public TimeSpan JobsInterval { get; init; } = TimeSpan.FromMilliseconds(200);
    /// <summary>The cluster is drawn this often (one report call per device, one management call).</summary>
    public TimeSpan ClusterInterval { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// The page's live updates, as server-sent events: "jobs" (a <see cref="JobsPicture"/>: the whole list) when the list
/// changes (a job added, ended, dropped), "job" ({"now", "job": a <see cref="JobView"/>}) when one job changes within
/// it (a step, a stage, a preview), and "cluster" (a <see cref="ClusterPicture"/>) when the cluster does. One loop
/// serves every connected page, and runs only while one is connected: each picture is made and serialized once, then
/// handed to every page, so ten pages cost what one does plus the writes. A page too slow to read loses older events,
/// not newer ones; a page that connects gets the whole list and the cluster at once.
/// </summary>
public sealed class DashboardFeed(ClusterPictures cluster, JobStore jobs, DashboardOptions options, IHostApplicationLifetime lifetime,
    ILogger<DashboardFeed> logger)
{
    public const string JobsEvent = "jobs", JobEvent = "job", ClusterEvent = "cluster";

    private readonly object _gate = new();
    private readonly List<Channel<SseItem<string>>> _pages = [];
    private Task? _loop;
    private string? _jobs, _cluster;

    public int Pages
    {
        get { lock (_gate) return _pages.Count; }
    }

    /// <summary>The events for one page: the latest pictures at once, then every change, until the page or the host goes.</summary>
    public async IAsyncEnumerable<SseItem<string>> SubscribeAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var page = Channel.CreateBounded<SseItem<string>>(new BoundedChannelOptions(16)
        {
            FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true, SingleWriter = false,
        });
        lock (_gate)
        {
            if (_jobs is not null) page.Writer.TryWrite(new SseItem<string>(_jobs, JobsEvent));
            if (_cluster is not null) page.Writer.TryWrite(new SseItem<string>(_cluster, ClusterEvent));
            _pages.Add(page);
            if (_loop is null || _loop.IsCompleted) _loop = Task.Run(LoopAsync);
        }
        using var ending = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
        try
        {
            while (true)
            {
                SseItem<string> item;
                try
                {
                    if (!await page.Reader.WaitToReadAsync(ending.Token).ConfigureAwait(false)) yield break;
                    if (!page.Reader.TryRead(out item)) continue;
                }
                catch (OperationCanceledException)
                {
                    yield break; // the page went away, or the host is stopping: the response ends, Kestrel does not wait on it
                }
                yield return item;
            }
        }
        finally
        {
            lock (_gate) _pages.Remove(page);
        }
    }

    private async Task LoopAsync()
    {
        var stopping = lifetime.ApplicationStopping;
        var nextCluster = DateTime.MinValue;
        var sent = new List<(string Id, string Json)>();
        Task drawing = Task.CompletedTask;
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                lock (_gate)
                {
                    if (_pages.Count == 0)
                    {
                        _loop = null; // the next page starts a new loop
                        _jobs = _cluster = null;
                        return;
                    }
                }
                PublishJobs(sent);
                // The cluster: drawn beside the jobs' loop, so a silo slow to answer does not hold the jobs' updates up.
                if (DateTime.UtcNow >= nextCluster && drawing.IsCompleted)
                {
                    nextCluster = DateTime.UtcNow + options.ClusterInterval;
                    drawing = DrawClusterAsync(stopping);
                }
                await Task.Delay(options.JobsInterval, stopping).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    /// <summary>The jobs now against those last sent: the whole list if its members changed, else each job that changed.</summary>
    private void PublishJobs(List<(string Id, string Json)> sent)
    {
        var now = JsonSerializer.Serialize(DateTime.UtcNow, DashboardJson.Options);
        var views = JobViews.List(jobs).Select(v => (v.Id, Json: JsonSerializer.Serialize(v, DashboardJson.Options))).ToList();
        bool sameList = views.Count == sent.Count && views.Zip(sent).All(p => p.First.Id == p.Second.Id);
        var changed = sameList ? views.Where((v, i) => v.Json != sent[i].Json).ToList() : views;
        if (sameList && changed.Count == 0 && _jobs is not null) return;
        string list = $"{{\"now\":{now},\"jobs\":[{string.Join(',', views.Select(v => v.Json))}]}}";
        lock (_gate)
        {
            _jobs = list;
            if (!sameList || sent.Count == 0) Send(JobsEvent, list);
            else foreach (var v in changed) Send(JobEvent, $"{{\"now\":{now},\"job\":{v.Json}}}");
        }
        sent.Clear();
        sent.AddRange(views);
    }

    private async Task DrawClusterAsync(CancellationToken stopping)
    {
        try
        {
            Publish(ClusterEvent, JsonSerializer.Serialize(await cluster.BuildAsync(stopping).ConfigureAwait(false), DashboardJson.Options));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("the dashboard could not draw the cluster: {Error}", e.Message);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Publish(string type, string json)
    {
        lock (_gate)
        {
            if (type == ClusterEvent) _cluster = json;
            Send(type, json);
        }
    }

    /// <summary>To every page (under the gate).</summary>
    private void Send(string type, string json)
    {
        foreach (var page in _pages) page.Writer.TryWrite(new SseItem<string>(json, type));
    }
}

/// <summary>The dashboard's JSON: camelCase names, as <see cref="JsonSerializerDefaults.Web"/>; quotes and such unescaped (JSON, never HTML).</summary>
public static class DashboardJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
