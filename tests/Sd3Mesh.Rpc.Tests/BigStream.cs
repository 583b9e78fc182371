using Sd3Mesh.Rpc.Benchmark;

namespace Sd3Mesh.Rpc.Tests;

/// <summary>RpcBenchmark.Download from any server, every byte checked against the pattern.</summary>
public static class BigStream
{
    private static readonly Method<DownloadRequest, Payload> Download =
        Method<DownloadRequest, Payload>.From(RpcBenchmarkService.Descriptor.FindMethodByName("Download"));

    /// <summary>Returns (bytes, messages) received; fails at the first byte off the pattern.</summary>
    public static async Task<(long Bytes, int Frames)> DownloadAndCheckAsync(GrpcChannel channel, long total, int frameBytes)
    {
        using var call = channel.ServerStreaming(Download, new DownloadRequest { TotalBytes = (ulong)total, FrameBytes = (uint)frameBytes },
            CallOptions.WithTimeout(TimeSpan.FromMinutes(2)));
        long offset = 0;
        int frames = 0;
        await foreach (var payload in call.ResponseStream)
        {
            Assert.Equal(-1, BytePattern.FindMismatch(payload.Data.Span, offset));
            offset += payload.Data.Length;
            frames++;
        }
        return (offset, frames);
    }
}
