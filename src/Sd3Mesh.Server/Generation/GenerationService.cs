using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Grpc;
using Sd3Mesh.Server.Jobs;
using GenerationApi = Sd3Mesh.Protos.V1.Generation;

namespace Sd3Mesh.Server.Generation;

/// <summary>
/// sd3mesh.v1.Generation: the public job API over the scheduler and the job store. Requests are mapped and
/// validated by <see cref="GenerateRequests"/> against the serving model's config before they are queued.
/// </summary>
public sealed class GenerationService(JobScheduler scheduler, IJobExecutor executor) : GenerationApi.GenerationBase
{
    public const int DefaultImageChunk = 64 * 1024;
    public const int MaxImageChunk = 4 * 1024 * 1024;
    public const int DefaultPageSize = 50, MaxPageSize = 500;

    private JobStore Store => scheduler.Store;

    /// <summary>The request header that names a client for admission (jobs one client may have waiting); without it, its address.</summary>
    public const string ClientIdHeader = "sd3mesh-client-id";
    public const int MaxClientIdLength = 64;

    /// <summary>Who submits a job: "client ID" from <see cref="ClientIdHeader"/>, else "client at ADDRESS" (the peer, port left out).</summary>
    public static string ClientOf(ServerCallContext context)
    {
        if (context.RequestHeaders.GetValue(ClientIdHeader) is { } id)
        {
            if (id.Length is 0 or > MaxClientIdLength || id.Any(c => c is < '!' or > '~'))
                throw new ArgumentException($"{ClientIdHeader}: 1..{MaxClientIdLength} printable ASCII characters without spaces; got {id.Length} characters");
            return $"client {id}";
        }
        // grpc-dotnet's peer: ipv4:127.0.0.1:5000 or ipv6:[::1]:5000.
        var peer = context.Peer;
        int port = peer.LastIndexOf(':');
        int scheme = peer.IndexOf(':');
        return $"client at {(port > scheme && scheme >= 0 ? peer[(scheme + 1)..port] : peer)}";
    }

    public override async Task Generate(GenerateRequest request, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context)
    {
        var job = scheduler.Submit(GenerateRequests.ToSpec(request, executor.Model), request, detached: false, client: ClientOf(context));
        try
        {
            await foreach (var e in job.Events.ReadAsync(0, context.CancellationToken))
                await responseStream.WriteAsync(WithImages(job, e), context.CancellationToken);
        }
        catch (Exception e) when (!job.IsEnded)
        {
            // A Generate job lives only as long as its call, however the call ended early: the caller left,
            // or a write failed (past the deadline, over the send limit).
            scheduler.Cancel(job.Id, e is OperationCanceledException ? "the Generate call was cancelled"
                : $"the Generate call failed ({StatusMapping.FromException(e, out _).Describe()})");
            throw;
        }
    }

    public override Task<SubmitResponse> Submit(GenerateRequest request, ServerCallContext context)
    {
        var job = scheduler.Submit(GenerateRequests.ToSpec(request, executor.Model), request, client: ClientOf(context));
        return Task.FromResult(new SubmitResponse { JobId = job.Id, QueuePosition = (uint)job.QueuePosition });
    }

    public override async Task Watch(WatchRequest request, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context)
    {
        var job = Store.Get(request.JobId);
        // A job the server keeps for its next start does not end when it stops: its stream does.
        using var watching = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken,
            scheduler.Keeps(job) ? scheduler.Stopping : CancellationToken.None);
        ulong next = request.FromSequence;
        try
        {
            await foreach (var e in job.Events.ReadAsync(request.FromSequence, watching.Token))
            {
                await responseStream.WriteAsync(WithImages(job, e), context.CancellationToken);
                next = e.Sequence + 1;
            }
        }
        catch (OperationCanceledException) when (scheduler.Stopping.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable,
                $"the server is stopping; job {job.Id} is kept and goes on when it is back: Watch it again from sequence {next}"));
        }
    }

    /// <summary>
    /// An event as a client gets it. A job read back from a durable store after a restart has its images in their files,
    /// not in its finished event: their bytes go inline again, as before the restart (up to the inline limit; not for a
    /// job whose images were dropped to keep the store within its budget).
    /// </summary>
    private JobEvent WithImages(Jobs.Job job, JobEvent e)
    {
        if (e.Finished is not { } finished || job.ImagesEvicted || finished.Images.All(i => !i.Data.IsEmpty || i.SizeBytes == 0)) return e;
        var whole = e.Clone();
        foreach (var image in whole.Finished.Images)
            if (image.Data.IsEmpty && image.SizeBytes > 0 && image.SizeBytes <= (ulong)scheduler.InlineImageLimit)
                image.Data = UnsafeByteOperations.UnsafeWrap(Store.GetImage(image.Id).Image.Data);
        return whole;
    }

    public override Task<CancelResponse> Cancel(CancelRequest request, ServerCallContext context)
    {
        bool cancelled = scheduler.Cancel(request.JobId, "cancelled by a client");
        return Task.FromResult(new CancelResponse { Cancelled = cancelled, State = Store.Get(request.JobId).State });
    }

    public override Task<Protos.V1.Job> GetJob(GetJobRequest request, ServerCallContext context) =>
        Task.FromResult(Store.Get(request.JobId).ToProto());

    public override Task<ListJobsResponse> ListJobs(ListJobsRequest request, ServerCallContext context)
    {
        if (request.PageSize > MaxPageSize)
            throw new ArgumentException($"page_size must be in [0, {MaxPageSize}] (0 means {DefaultPageSize}), got {request.PageSize}");
        int size = request.PageSize == 0 ? DefaultPageSize : (int)request.PageSize;
        long before = long.MaxValue;
        if (request.PageToken.Length > 0 &&
            (!long.TryParse(request.PageToken, NumberStyles.None, CultureInfo.InvariantCulture, out before) || before <= 0))
            throw new ArgumentException("page_token is not a next_page_token from a previous ListJobs response");
        foreach (var state in request.States)
            if (!Enum.IsDefined(state) || state == JobState.Unspecified)
                throw new ArgumentException($"states holds {(int)state}, which is not a job state (JOB_STATE_QUEUED .. JOB_STATE_CANCELLED)");

        // One more than asked for tells whether another page exists.
        var jobs = Store.List(before, size + 1, request.States.ToHashSet());
        var response = new ListJobsResponse();
        response.Jobs.AddRange(jobs.Take(size).Select(j => j.ToProto()));
        if (jobs.Count > size) response.NextPageToken = jobs[size - 1].Sequence.ToString(CultureInfo.InvariantCulture);
        return Task.FromResult(response);
    }

    public override async Task GetImage(GetImageRequest request, IServerStreamWriter<ImageChunk> responseStream, ServerCallContext context)
    {
        if (request.ChunkSize > MaxImageChunk)
            throw new ArgumentException($"chunk_size must be in [0, {MaxImageChunk}] (0 means {DefaultImageChunk}), got {request.ChunkSize}");
        int chunk = request.ChunkSize == 0 ? DefaultImageChunk : (int)request.ChunkSize;
        var image = Store.GetImage(request.ImageId).Image;
        var data = image.Data;
        for (int offset = 0; offset == 0 || offset < data.Length; offset += chunk)
        {
            int n = Math.Min(chunk, data.Length - offset);
            await responseStream.WriteAsync(new ImageChunk
            {
                MediaType = offset == 0 ? image.MediaType : "",
                TotalSize = (ulong)data.Length,
                Offset = (ulong)offset,
                Data = UnsafeByteOperations.UnsafeWrap(data.AsMemory(offset, n)),
            }, context.CancellationToken);
        }
    }
}
