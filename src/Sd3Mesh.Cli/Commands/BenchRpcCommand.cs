using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Sd3Mesh.Protos;
using Sd3Mesh.Protos.Benchmark;
using Sd3Mesh.Server.Benchmark;
using Sd3Mesh.Server.Grpc;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh bench rpc`: gRPC on loopback, every pair from one run so that the ratios compare like with like:
/// grpc-dotnet's client and server (as Sd3Mesh configures them: HTTP/2 windows tuned for tensor streams, and
/// with the libraries' defaults), grpcio (Python) against our server, and grpcio against itself and as the
/// server of our client. Each pair: unary round-trip p50/p99 and stream throughput both ways.
/// </summary>
public static class BenchRpcCommand
{
    public static Command Create()
    {
        var calls = new Option<int>("--calls") { Description = "Unary calls timed per pair (after 10% warm-up)", DefaultValueFactory = _ => 2000 };
        var streamMb = new Option<int>("--stream-mb") { Description = "MiB streamed each way per pair", DefaultValueFactory = _ => 256 };
        var frameKb = new Option<int>("--frame-kb") { Description = "KiB per streamed message", DefaultValueFactory = _ => 1024 };
        var rtt = new Option<double>("--rtt-ms") { Description = "Emulated round-trip time between client and server (a delaying proxy; 0: direct loopback)", DefaultValueFactory = _ => 0 };
        var python = new Option<string>("--python") { Description = "Interpreter with grpcio for the Python peers ('none' to skip them)", DefaultValueFactory = _ => "/usr/bin/python3" };
        var command = new Command("rpc", "gRPC on loopback: unary p50/p99 and stream MiB/s; grpc-dotnet (tuned and default HTTP/2 windows) and grpcio");
        foreach (var option in new Option[] { calls, streamMb, frameKb, rtt, python }) command.Options.Add(option);
        command.SetAction((parse, ct) => RunAsync(AnsiConsole.Console, parse.GetValue(calls), parse.GetValue(streamMb), parse.GetValue(frameKb),
            parse.GetValue(rtt), parse.GetValue(python)!, ct));
        return command;
    }

    private enum Peer { DotnetTuned, DotnetDefaults, Python }

    private sealed record Setup(Peer Client, Peer Server)
    {
        public static string Name(Peer peer) => peer == Peer.Python ? "grpcio (Python)" : "grpc-dotnet";
        public string Settings => (Client, Server) switch
        {
            (Peer.DotnetTuned, Peer.DotnetTuned) => "tuned",
            (Peer.DotnetDefaults, _) => "defaults",
            (Peer.Python, Peer.DotnetTuned) => "tuned server",
            (Peer.DotnetTuned, Peer.Python) => "tuned client",
            _ => "defaults",
        };
    }

    public static async Task<int> RunAsync(IAnsiConsole console, int calls, int streamMb, int frameKb, double rttMs, string python, CancellationToken ct)
    {
        // In long: --frame-kb 4194304 would make frameKb * 1024 wrap to 0 in int.
        if (calls < 1 || streamMb < 1 || frameKb < 1 || frameKb * 1024L > RpcBenchmarkService.MaxFrameBytes || frameKb > streamMb * 1024L)
        {
            console.MarkupLine($"[red]{Markup.Escape($"--calls and --stream-mb must be >= 1 and --frame-kb in [1, {RpcBenchmarkService.MaxFrameBytes / 1024}] and at most --stream-mb")}[/]");
            return ExitCodes.Usage;
        }
        if (!double.IsFinite(rttMs) || rttMs is < 0 or > 1000)
        {
            console.MarkupLine($"[red]{Markup.Escape($"--rtt-ms must be in [0, 1000], got {rttMs}")}[/]");
            return ExitCodes.Usage;
        }
        bool withPython = !python.Equals("none", StringComparison.OrdinalIgnoreCase);
        if (withPython && !File.Exists(python))
        {
            console.MarkupLine($"[red]--python: {Markup.Escape(python)} not found (tests/setup-debian.sh installs python3-grpcio; 'none' skips it)[/]");
            return ExitCodes.Usage;
        }
        long streamBytes = streamMb * 1024L * 1024;
        int frameBytes = frameKb * 1024;
        var setups = new List<Setup> { new(Peer.DotnetTuned, Peer.DotnetTuned), new(Peer.DotnetDefaults, Peer.DotnetDefaults) };
        if (withPython)
            setups.AddRange([new(Peer.Python, Peer.DotnetTuned), new(Peer.Python, Peer.Python), new(Peer.DotnetTuned, Peer.Python)]);

        var descriptorSet = Path.Combine(Path.GetTempPath(), $"sd3mesh-bench-rpc-{Environment.ProcessId}.pb");
        await File.WriteAllBytesAsync(descriptorSet, DescriptorSets.Of(BenchmarkReflection.Descriptor), ct);
        var results = new List<(Setup Setup, RpcBenchmarkResult Result)>();
        var tasks = new List<(string Name, int Steps)> { ("warm-up (untimed)", 1) };
        tasks.AddRange(setups.Select(s => ($"{Setup.Name(s.Client)} -> {Setup.Name(s.Server)}, {s.Settings}", 1)));
        try
        {
            // Console apps have no synchronization context: blocking on the async work here is safe.
            ConsoleProgress.Run(console, tasks, (i, step) =>
            {
                if (i == 0)
                    // One pass first, so that the first measured pair does not pay for JIT tiering.
                    MeasureAsync(setups[0], 0, python, descriptorSet, calls, Math.Max(frameBytes, streamBytes / 2), frameBytes, ct).GetAwaiter().GetResult();
                else
                    results.Add((setups[i - 1], MeasureAsync(setups[i - 1], rttMs, python, descriptorSet, calls, streamBytes, frameBytes, ct)
                        .GetAwaiter().GetResult()));
                step();
            });
        }
        finally
        {
            File.Delete(descriptorSet);
        }

        var link = rttMs > 0 ? $"loopback through a proxy adding {rttMs} ms round trip" : "loopback";
        var table = new Table().Title(Markup.Escape($"gRPC on {link}: {calls} unary calls of 64 B; {streamMb} MiB each way in {frameKb} KiB messages"))
            .AddColumns("Client", "Server", "HTTP/2 settings", "unary p50 (us)", "unary p99 (us)", "download (MiB/s)", "upload (MiB/s)");
        foreach (var (setup, r) in results)
            table.AddRow(Markup.Escape(Setup.Name(setup.Client)), Markup.Escape(Setup.Name(setup.Server)), setup.Settings,
                $"{r.UnaryP50Us:F0}", $"{r.UnaryP99Us:F0}", $"{r.DownloadMiBps:F0}", $"{r.UploadMiBps:F0}");
        console.Write(table);
        console.MarkupLine(Markup.Escape(
            "tuned: Kestrel windows 32 MiB/16 MiB (connection/stream), 1 MiB frames, 4 MiB response buffer; client stream window 8 MiB. " +
            "defaults: Kestrel's 1 MiB/768 KiB, 16 KiB frames, 64 KiB buffer; .NET's 64 KiB (auto-grown) stream window. grpcio keeps its own settings."));
        var ours = results.Where(r => r.Setup.Server != Peer.Python && r.Setup.Client != Peer.Python).ToList();
        if (ours.Count == 2)
            console.MarkupLine(Markup.Escape(
                $"tuned / defaults (grpc-dotnet both sides): download x{ours[0].Result.DownloadMiBps / ours[1].Result.DownloadMiBps:F2}, upload x{ours[0].Result.UploadMiBps / ours[1].Result.UploadMiBps:F2}"));
        return ExitCodes.Ok;
    }

    private static async Task<RpcBenchmarkResult> MeasureAsync(Setup setup, double rttMs, string python, string descriptorSet,
        int calls, long streamBytes, int frameBytes, CancellationToken ct)
    {
        await using var server = setup.Server == Peer.Python
            ? await PythonServer.StartAsync(python, descriptorSet, ct)
            : await DotnetServer.StartAsync(setup.Server == Peer.DotnetTuned ? Http2Settings.LargeMessages : Http2Settings.KestrelDefaults, ct);
        await using var proxy = rttMs > 0 ? new DelayProxy(new IPEndPoint(IPAddress.Loopback, server.Port), TimeSpan.FromMilliseconds(rttMs)) : null;
        int port = proxy?.Port ?? server.Port;
        if (setup.Client == Peer.Python) return await RunPythonClientAsync(python, descriptorSet, port, calls, streamBytes, frameBytes, ct);
        using var channel = GrpcChannels.Create(new Uri($"http://127.0.0.1:{port}"),
            streamWindow: setup.Client == Peer.DotnetTuned ? GrpcChannels.DefaultStreamWindow : null);
        return await RpcBenchmarkRunner.RunAsync(channel, calls, streamBytes, frameBytes, ct);
    }

    private interface IBenchServer : IAsyncDisposable
    {
        int Port { get; }
    }

    /// <summary>RpcBenchmark on grpc-dotnet, hosted as the silo hosts its services.</summary>
    private sealed class DotnetServer(WebApplication app) : IBenchServer
    {
        public int Port => app.GrpcAddress().Port;

        public static async Task<IBenchServer> StartAsync(Http2Settings http2, CancellationToken ct)
        {
            var builder = GrpcHosting.CreateBuilder(new GrpcServerOptions { Listen = "127.0.0.1:0", Http2 = http2 });
            builder.Services.AddSingleton<RpcBenchmarkService>();
            var app = builder.Build();
            app.MapGrpcService<RpcBenchmarkService>();
            await app.StartAsync(ct);
            return new DotnetServer(app);
        }

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    /// <summary>RpcBenchmark on grpcio: python/rpc_bench_peer.py server, stopped by closing its stdin.</summary>
    private sealed class PythonServer(Process process, int port) : IBenchServer
    {
        public int Port => port;

        public static async Task<IBenchServer> StartAsync(string python, string descriptorSet, CancellationToken ct)
        {
            var process = Process.Start(PeerStart(python, "server", descriptorSet)) ?? throw new InvalidOperationException($"{python} did not start");
            var line = await process.StandardOutput.ReadLineAsync(ct).AsTask().WaitAsync(TimeSpan.FromSeconds(30), ct);
            if (line is null || !line.StartsWith("PORT ", StringComparison.Ordinal))
            {
                process.Kill(entireProcessTree: true);
                throw new InvalidOperationException($"the Python server did not start: {await process.StandardError.ReadToEndAsync(ct)}");
            }
            return new PythonServer(process, int.Parse(line[5..], CultureInfo.InvariantCulture));
        }

        public async ValueTask DisposeAsync()
        {
            process.StandardInput.Close();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try { await process.WaitForExitAsync(timeout.Token); }
            catch (OperationCanceledException) { process.Kill(entireProcessTree: true); }
            process.Dispose();
        }
    }

    private static ProcessStartInfo PeerStart(string python, params string[] args)
    {
        var info = new ProcessStartInfo(python)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        info.ArgumentList.Add("-u");
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "python", "rpc_bench_peer.py"));
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["no_proxy"] = "127.0.0.1";
        return info;
    }

    private static async Task<RpcBenchmarkResult> RunPythonClientAsync(string python, string descriptorSet, int port, int calls, long streamBytes,
        int frameBytes, CancellationToken ct)
    {
        var c = CultureInfo.InvariantCulture;
        using var process = Process.Start(PeerStart(python, "client", descriptorSet, $"127.0.0.1:{port}", calls.ToString(c), streamBytes.ToString(c),
            frameBytes.ToString(c))) ?? throw new InvalidOperationException($"{python} did not start");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        try
        {
            await process.WaitForExitAsync(ct);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        if (process.ExitCode != 0) throw new InvalidOperationException($"the Python client failed ({process.ExitCode}): {await stderr}");
        var json = JsonDocument.Parse((await stdout).Trim().Split('\n')[^1]).RootElement;
        return new RpcBenchmarkResult(json.GetProperty("p50_us").GetDouble(), json.GetProperty("p99_us").GetDouble(),
            json.GetProperty("download_mbps").GetDouble(), json.GetProperty("upload_mbps").GetDouble());
    }
}
