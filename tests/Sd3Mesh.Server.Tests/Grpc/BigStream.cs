using Grpc.Core;
using Grpc.Net.Client;
using Sd3Mesh.Protos.Benchmark;
using Sd3Mesh.Server.Benchmark;

namespace Sd3Mesh.Server.Tests.Grpc;

/// <summary>RpcBenchmark.Download from any server, every byte checked against the pattern.</summary>
public static class BigStream
{
    /// <summary>Returns (bytes, messages) received; fails at the first byte off the pattern.</summary>
    public static async Task<(long Bytes, int Frames)> DownloadAndCheckAsync(GrpcChannel channel, long total, int frameBytes)
    {
        using var call = new RpcBenchmark.RpcBenchmarkClient(channel).Download(
            new DownloadRequest { TotalBytes = (ulong)total, FrameBytes = (uint)frameBytes }, deadline: DateTime.UtcNow.AddMinutes(2));
        long offset = 0;
        int frames = 0;
        await foreach (var payload in call.ResponseStream.ReadAllAsync())
        {
            Assert.Equal(-1, BytePattern.FindMismatch(payload.Data.Span, offset));
            offset += payload.Data.Length;
            frames++;
        }
        return (offset, frames);
    }
}
