using Sd3Mesh.Protos.V1;
using Sd3Mesh.Rpc;

namespace Sd3Mesh.Server.Generation;

/// <summary>A typed client of sd3mesh.v1.Generation (used by the CLI and the tests).</summary>
public sealed class GenerationClient(GrpcChannel channel)
{
    public static readonly Method<GenerateRequest, JobEvent> GenerateMethod = Method<GenerateRequest, JobEvent>.From(GenerationService.Descriptor, "Generate");
    public static readonly Method<GenerateRequest, SubmitResponse> SubmitMethod = Method<GenerateRequest, SubmitResponse>.From(GenerationService.Descriptor, "Submit");
    public static readonly Method<WatchRequest, JobEvent> WatchMethod = Method<WatchRequest, JobEvent>.From(GenerationService.Descriptor, "Watch");
    public static readonly Method<CancelRequest, CancelResponse> CancelMethod = Method<CancelRequest, CancelResponse>.From(GenerationService.Descriptor, "Cancel");
    public static readonly Method<GetJobRequest, Job> GetJobMethod = Method<GetJobRequest, Job>.From(GenerationService.Descriptor, "GetJob");
    public static readonly Method<ListJobsRequest, ListJobsResponse> ListJobsMethod = Method<ListJobsRequest, ListJobsResponse>.From(GenerationService.Descriptor, "ListJobs");
    public static readonly Method<GetImageRequest, ImageChunk> GetImageMethod = Method<GetImageRequest, ImageChunk>.From(GenerationService.Descriptor, "GetImage");

    public GrpcChannel Channel => channel;

    public ServerStreamingCall<JobEvent> Generate(GenerateRequest request, CallOptions options = default) =>
        channel.ServerStreaming(GenerateMethod, request, options);

    public Task<SubmitResponse> SubmitAsync(GenerateRequest request, CallOptions options = default) =>
        channel.UnaryAsync(SubmitMethod, request, options);

    public ServerStreamingCall<JobEvent> Watch(string jobId, ulong fromSequence = 0, CallOptions options = default) =>
        channel.ServerStreaming(WatchMethod, new WatchRequest { JobId = jobId, FromSequence = fromSequence }, options);

    public Task<CancelResponse> CancelAsync(string jobId, CallOptions options = default) =>
        channel.UnaryAsync(CancelMethod, new CancelRequest { JobId = jobId }, options);

    public Task<Job> GetJobAsync(string jobId, CallOptions options = default) =>
        channel.UnaryAsync(GetJobMethod, new GetJobRequest { JobId = jobId }, options);

    public Task<ListJobsResponse> ListJobsAsync(ListJobsRequest request, CallOptions options = default) =>
        channel.UnaryAsync(ListJobsMethod, request, options);

    /// <summary>An image's bytes, reassembled from GetImage's chunks (which must be contiguous and add up).</summary>
    public async Task<(string MediaType, byte[] Data)> DownloadImageAsync(string imageId, uint chunkSize = 0, CallOptions options = default)
    {
        using var call = channel.ServerStreaming(GetImageMethod, new GetImageRequest { ImageId = imageId, ChunkSize = chunkSize }, options);
        string mediaType = "";
        byte[]? data = null;
        ulong received = 0;
        await foreach (var chunk in call.ResponseStream.ConfigureAwait(false))
        {
            if (data is null)
            {
                mediaType = chunk.MediaType;
                if (chunk.TotalSize > int.MaxValue) throw new InvalidDataException($"image '{imageId}' of {chunk.TotalSize} bytes is too large");
                data = new byte[chunk.TotalSize];
            }
            if (chunk.Offset != received || received + (ulong)chunk.Data.Length > (ulong)data.Length)
                throw new InvalidDataException($"image '{imageId}': a chunk at offset {chunk.Offset} of {chunk.Data.Length} bytes does not follow the {received} bytes received of {data.Length}");
            chunk.Data.Span.CopyTo(data.AsSpan((int)received));
            received += (ulong)chunk.Data.Length;
        }
        if (data is null || received != (ulong)data.Length)
            throw new InvalidDataException($"image '{imageId}' ended after {received} of {data?.Length ?? 0} bytes");
        return (mediaType, data);
    }
}
