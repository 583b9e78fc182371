using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Sd3Mesh.Protos.Benchmark;

namespace Sd3Mesh.Server.Benchmark;

/// <summary>Unary latency percentiles (microseconds) and stream throughput (MiB/s) of one client-server pair.</summary>
public sealed record RpcBenchmarkResult(double UnaryP50Us, double UnaryP99Us, double DownloadMiBps, double UploadMiBps);

/// <summary>Drives RpcBenchmark from grpc-dotnet's client: sequential 64-byte Echo calls, then a Download and an Upload of the same size.</summary>
public static class RpcBenchmarkRunner
{
    public static async Task<RpcBenchmarkResult> RunAsync(GrpcChannel channel, int calls, long streamBytes, int frameBytes,
        CancellationToken cancellationToken = default)
    {
        var client = new RpcBenchmark.RpcBenchmarkClient(channel);
        var request = new Payload { Data = ByteString.CopyFrom(new byte[64]) };
        var options = new CallOptions(cancellationToken: cancellationToken);
        for (int i = 0; i < Math.Max(1, calls / 10); i++) await client.EchoAsync(request, options);
        var latencies = new double[calls];
        for (int i = 0; i < calls; i++)
        {
            long start = Stopwatch.GetTimestamp();
            await client.EchoAsync(request, options);
            latencies[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }
        Array.Sort(latencies);

        // A short untimed round of each stream first (JIT, connection windows, buffers).
        long warmup = Math.Min(streamBytes, Math.Max(frameBytes, streamBytes / 8));
        await DownloadAsync(client, warmup, frameBytes, options);
        await UploadAsync(client, warmup / frameBytes, frameBytes, options);
        double downloadSeconds = await DownloadAsync(client, streamBytes, frameBytes, options);
        long frames = streamBytes / frameBytes;
        double uploadSeconds = await UploadAsync(client, frames, frameBytes, options);

        const double MiB = 1024 * 1024;
        return new RpcBenchmarkResult(
            latencies[calls / 2], latencies[Math.Min(calls - 1, (int)(calls * 0.99))],
            streamBytes / MiB / downloadSeconds, frames * frameBytes / MiB / uploadSeconds);
    }

    private static async Task<double> DownloadAsync(RpcBenchmark.RpcBenchmarkClient client, long streamBytes, int frameBytes, CallOptions options)
    {
        long clock = Stopwatch.GetTimestamp();
        long received = 0;
        using (var download = client.Download(new DownloadRequest { TotalBytes = (ulong)streamBytes, FrameBytes = (uint)frameBytes }, options))
            await foreach (var payload in download.ResponseStream.ReadAllAsync(options.CancellationToken)) received += payload.Data.Length;
        double seconds = Stopwatch.GetElapsedTime(clock).TotalSeconds;
        if (received != streamBytes) throw new InvalidOperationException($"downloaded {received} of {streamBytes} bytes");
        return seconds;
    }

    private static async Task<double> UploadAsync(RpcBenchmark.RpcBenchmarkClient client, long frames, int frameBytes, CallOptions options)
    {
        var frame = new Payload { Data = ByteString.CopyFrom(new byte[frameBytes]) };
        long clock = Stopwatch.GetTimestamp();
        UploadSummary summary;
        using (var upload = client.Upload(options))
        {
            for (long i = 0; i < frames; i++) await upload.RequestStream.WriteAsync(frame, options.CancellationToken);
            await upload.RequestStream.CompleteAsync();
            summary = await upload.ResponseAsync;
        }
        double seconds = Stopwatch.GetElapsedTime(clock).TotalSeconds;
        if ((long)summary.TotalBytes != frames * frameBytes) throw new InvalidOperationException($"the server counted {summary.TotalBytes} bytes");
        return seconds;
    }
}
