using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Generation;
using Sd3Mesh.Server.Grpc;
using Sd3Mesh.Server.Jobs;
using E = Sd3Mesh.Protos.V1.JobEvent.EventOneofCase;
using GenerationApi = Sd3Mesh.Protos.V1.Generation;

namespace Sd3Mesh.Cli.Tests.Soak;

/// <summary>
/// One client of the soak, as a well-behaved program would be written: its own channel and client id, up to the
/// run's window of its jobs at once, each submitted with a request id and watched to its final event. A primary that
/// is down (refused connections, a broken stream, a deadline) is waited out with backoff, then the same request is
/// submitted again (Submit is idempotent by request id: the same job) and watched again by its id; RESOURCE_EXHAUSTED
/// is retried after the server's retry-pushback-ms. Any other answer ends the job for the client.
/// </summary>
public sealed class SoakClient(Uri api, SoakRun run, IReadOnlyList<SoakJob> jobs, Stopwatch clock) : IDisposable
{
    private static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(15);
    private readonly GrpcChannel _channel = GrpcChannels.Create(api);
    private readonly Random _jitter = new(jobs.Count);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var slots = new SemaphoreSlim(run.Window);
        await Task.WhenAll(jobs.Select(async job =>
        {
            await slots.WaitAsync(cancellationToken);
            try
            {
                await RunAsync(job, cancellationToken);
            }
            finally
            {
                slots.Release();
            }
            run.Ended(job);
        }));
    }

    private async Task RunAsync(SoakJob job, CancellationToken cancellationToken)
    {
        var api = new GenerationApi.GenerationClient(_channel);
        var headers = new Metadata { { GenerationService.ClientIdHeader, job.Client } };
        await run.MayStartAsync(cancellationToken);
        job.SubmittedAt = clock.Elapsed;
        int failures = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string id;
            try
            {
                Interlocked.Increment(ref job.Submits);
                id = (await api.SubmitAsync(job.Wire, headers, DateTime.UtcNow + CallDeadline, cancellationToken)).JobId;
                run.Answers.Enqueue(clock.Elapsed);
                job.Answered(id);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted && !cancellationToken.IsCancellationRequested)
            {
                // Admission: this client has as many jobs waiting as it may. The server says when room opens.
                Interlocked.Increment(ref job.Pushbacks);
                var hint = e.Trailers.GetValue(JobScheduler.RetryPushbackTrailer);
                await Task.Delay(int.TryParse(hint, out int ms) ? Math.Clamp(ms, 10, 30_000) : 500, cancellationToken);
                continue;
            }
            catch (RpcException e) when (Transient(e) && !cancellationToken.IsCancellationRequested)
            {
                await BackOffAsync(job, $"Submit: {e.StatusCode} {e.Status.Detail}", ++failures, cancellationToken);
                continue;
            }
            catch (RpcException e) when (!cancellationToken.IsCancellationRequested)
            {
                job.ClientError = $"Submit answered {e.StatusCode}: {e.Status.Detail}";
                return;
            }

            try
            {
                Interlocked.Increment(ref job.Watches);
                using var call = api.Watch(new WatchRequest { JobId = id }, headers, cancellationToken: cancellationToken);
                var log = new List<JobEvent>();
                await foreach (var e in call.ResponseStream.ReadAllAsync(cancellationToken))
                {
                    if (log.Count == 0) run.Answers.Enqueue(clock.Elapsed);
                    log.Add(e);
                    job.Last = e;
                    if (e.EventCase is E.Finished or E.Failed or E.Cancelled)
                    {
                        job.EndedAt = clock.Elapsed;
                        job.Log = log;
                        job.Final = e;
                        return;
                    }
                }
                await BackOffAsync(job, "Watch ended without a final event", ++failures, cancellationToken);
            }
            catch (RpcException e) when (Transient(e) && !cancellationToken.IsCancellationRequested)
            {
                await BackOffAsync(job, $"Watch: {e.StatusCode} {e.Status.Detail}", ++failures, cancellationToken);
            }
            catch (RpcException e) when (!cancellationToken.IsCancellationRequested)
            {
                // NOT_FOUND here would be a job the server forgot after answering its id: a lost job.
                job.ClientError = $"Watch of {id} answered {e.StatusCode}: {e.Status.Detail}";
                return;
            }
        }
    }

    /// <summary>What a primary that is down or restarting answers: no connection, a stream cut off, no answer in time.</summary>
    private static bool Transient(RpcException e) =>
        e.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown or StatusCode.DeadlineExceeded or StatusCode.Aborted
            or StatusCode.Cancelled;

    /// <summary>200 ms doubling to 2 s, with jitter so that 8 clients do not come back in step.</summary>
    private async Task BackOffAsync(SoakJob job, string reason, int failures, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref job.Retries);
        job.LastRetryReason = reason;
        double ms = Math.Min(2000, 200 * Math.Pow(2, Math.Min(failures - 1, 4)));
        double jitter;
        lock (_jitter) jitter = 0.5 + _jitter.NextDouble();
        await Task.Delay(TimeSpan.FromMilliseconds(ms * jitter), cancellationToken);
    }

    public void Dispose() => _channel.Dispose();
}
