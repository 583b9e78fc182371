using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Sd3Mesh.Rpc.Benchmark;

/// <summary>sd3mesh.rpc.v1.RpcBenchmark: echo, download of a checkable byte pattern, upload counting.</summary>
public sealed class RpcBenchmarkService
{
    public const int MaxFrameBytes = 16 * 1024 * 1024;

    public static ServiceDescriptor Descriptor =>
        BenchmarkReflection.Descriptor.FindTypeByName<ServiceDescriptor>("RpcBenchmark");

    public Task<Payload> Echo(Payload request, ServerCallContext context) => Task.FromResult(request);

    public async Task Download(DownloadRequest request, IServerStreamWriter<Payload> responses, ServerCallContext context)
    {
        if (request.FrameBytes is 0 or > MaxFrameBytes)
            throw new ArgumentException($"frame_bytes must be 1 .. {MaxFrameBytes}, got {request.FrameBytes}");
        var buffer = new byte[request.FrameBytes];
        for (ulong offset = 0; offset < request.TotalBytes; offset += request.FrameBytes)
        {
            int n = (int)Math.Min(request.FrameBytes, request.TotalBytes - offset);
            BytePattern.Fill(buffer.AsSpan(0, n), (long)offset);
            // UnsafeByteOperations: no copy; the message is serialized before the buffer is refilled.
            await responses.WriteAsync(new Payload { Data = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, n)) }, context.CancellationToken);
        }
    }

    public async Task<UploadSummary> Upload(IAsyncEnumerable<Payload> requests, ServerCallContext context)
    {
        var summary = new UploadSummary();
        await foreach (var payload in requests)
        {
            summary.TotalBytes += (ulong)payload.Data.Length;
            summary.Frames++;
        }
        return summary;
    }
}
