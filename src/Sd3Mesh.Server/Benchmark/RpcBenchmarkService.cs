using Google.Protobuf;
using Grpc.Core;
using Sd3Mesh.Protos.Benchmark;

namespace Sd3Mesh.Server.Benchmark;

/// <summary>sd3mesh.rpc.v1.RpcBenchmark: echo, download of a checkable byte pattern, upload counting.</summary>
public sealed class RpcBenchmarkService : RpcBenchmark.RpcBenchmarkBase
{
    public const int MaxFrameBytes = 16 * 1024 * 1024;

    public override Task<Payload> Echo(Payload request, ServerCallContext context) => Task.FromResult(request);

    public override async Task Download(DownloadRequest request, IServerStreamWriter<Payload> responseStream, ServerCallContext context)
    {
        if (request.FrameBytes is 0 or > MaxFrameBytes)
            throw new ArgumentException($"frame_bytes must be 1 .. {MaxFrameBytes}, got {request.FrameBytes}");
        // The pattern repeats every 251 bytes: one frame's worth plus a period holds every frame as a slice,
        // so that the stream measures the transport, not the filling of buffers.
        var pattern = new byte[request.FrameBytes + BytePattern.Period];
        BytePattern.Fill(pattern, 0);
        for (ulong offset = 0; offset < request.TotalBytes; offset += request.FrameBytes)
        {
            int n = (int)Math.Min(request.FrameBytes, request.TotalBytes - offset);
            var data = pattern.AsMemory((int)(offset % BytePattern.Period), n);
            // UnsafeWrap: no copy; nothing writes to the pattern after this point.
            await responseStream.WriteAsync(new Payload { Data = UnsafeByteOperations.UnsafeWrap(data) }, context.CancellationToken);
        }
    }

    public override async Task<UploadSummary> Upload(IAsyncStreamReader<Payload> requestStream, ServerCallContext context)
    {
        var summary = new UploadSummary();
        await foreach (var payload in requestStream.ReadAllAsync(context.CancellationToken))
        {
            summary.TotalBytes += (ulong)payload.Data.Length;
            summary.Frames++;
        }
        return summary;
    }
}
