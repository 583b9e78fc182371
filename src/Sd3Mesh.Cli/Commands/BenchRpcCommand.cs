using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Sd3Mesh.Rpc;
using Sd3Mesh.Rpc.Benchmark;
using Sd3Mesh.Rpc.Reflection;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh bench rpc`: the gRPC layer on loopback. An in-process sd3mesh server (RpcBenchmark service)
/// is called by our client and by a grpcio (Python) client, each with the HTTP/2 windows tuned for
/// large tensor streams and with the libraries' defaults: unary round-trip p50/p99 and stream
/// throughput both ways, all from one run so that the ratios compare like with like.
/// </summary>
public static class BenchRpcCommand
{
    public static Command Create()
    {
        var calls = new Option<int>("--calls") { Description = "Unary calls timed per client (after 10% warm-up)", DefaultValueFactory = _ => 2000 };
        var streamMb = new Option<int>("--stream-mb") { Description = "MiB streamed each way per client", DefaultValueFactory = _ => 256 };
        var frameKb = new Option<int>("--frame-kb") { Description = "KiB per streamed message", DefaultValueFactory = _ => 1024 };
        var rtt = new Option<double>("--rtt-ms") { Description = "Emulated round-trip time between client and server (a delaying proxy; 0: direct loopback)", DefaultValueFactory = _ => 0 };
        var python = new Option<string>("--python") { Description = "Interpreter with grpcio for the Python client ('none' to skip)", DefaultValueFactory = _ => "/usr/bin/python3" };
        var command = new Command("rpc", "gRPC on loopback: unary p50/p99 and stream MiB/s, our client and grpcio, tuned and default HTTP/2 windows");
        command.Options.Add(calls);
        command.Options.Add(streamMb);
        command.Options.Add(frameKb);
        command.Options.Add(rtt);
        command.Options.Add(python);
        command.SetAction((parse, ct) => RunAsync(AnsiConsole.Console, parse.GetValue(calls), parse.GetValue(streamMb), parse.GetValue(frameKb),
            parse.GetValue(rtt), parse.GetValue(python)!, ct));
        return command;
    }

    private sealed record Setup(string Client, string Windows, Http2Settings Server, int? ClientWindow, bool Python);

    public static async Task<int> RunAsync(IAnsiConsole console, int calls, int streamMb, int frameKb, double rttMs, string python, CancellationToken ct)
    {
        // In long: --frame-kb 4194304 would make frameKb * 1024 wrap to 0 in int.
        if (calls < 1 || streamMb < 1 || frameKb < 1 || frameKb * 1024L > RpcBenchmarkService.MaxFrameBytes || frameKb > streamMb * 1024L)
        {
            console.MarkupLine($"[red]{Markup.Escape($"--calls and --stream-mb must be >= 1 and --frame-kb in [1, {RpcBenchmarkService.MaxFrameBytes / 1024}] and at most --stream-mb")}[/]");
            return 2;
        }
        if (!double.IsFinite(rttMs) || rttMs is < 0 or > 1000)
        {
            console.MarkupLine($"[red]{Markup.Escape($"--rtt-ms must be in [0, 1000], got {rttMs}")}[/]");
            return 2;
        }
        bool withPython = !python.Equals("none", StringComparison.OrdinalIgnoreCase);
        if (withPython && !File.Exists(python))
        {
            console.MarkupLine($"[red]--python: {Markup.Escape(python)} not found (tests/setup-debian.sh installs python3-grpcio; 'none' skips it)[/]");
            return 2;
        }
        long streamBytes = streamMb * 1024L * 1024;
        int frameBytes = frameKb * 1024;
        var tuned = new GrpcChannelOptions().InitialStreamWindowSize;
        var setups = new List<Setup>
        {
            new("sd3mesh", "tuned", Http2Settings.LargeMessages, tuned, false),
            new("sd3mesh", "defaults", Http2Settings.KestrelDefaults, null, false),
        };
        if (withPython)
        {
            setups.Add(new("grpcio 1.51 (Python)", "tuned server", Http2Settings.LargeMessages, null, true));
            setups.Add(new("grpcio 1.51 (Python)", "defaults", Http2Settings.KestrelDefaults, null, true));
        }

        var descriptorSet = Path.Combine(Path.GetTempPath(), $"sd3mesh-bench-rpc-{Environment.ProcessId}.pb");
        await File.WriteAllBytesAsync(descriptorSet, DescriptorIndex.ToFileDescriptorSet(BenchmarkReflection.Descriptor), ct);
        var results = new List<(Setup Setup, RpcBenchmarkResult Result)>();
        var tasks = new List<(string Name, int Steps)> { ("warm-up (untimed)", 1) };
        tasks.AddRange(setups.Select(s => ($"{s.Client}, {s.Windows}", 1)));
        try
        {
            // Console apps have no synchronization context: blocking on the async work here is safe.
            ConsoleProgress.Run(console, tasks, (i, step) =>
            {
                if (i == 0)
                    // One pass first, so that the first measured setup does not pay for JIT tiering.
                    MeasureAsync(new Setup("sd3mesh", "tuned", Http2Settings.LargeMessages, tuned, false), 0, python, descriptorSet,
                        calls, Math.Max(frameBytes, streamBytes / 2), frameBytes, ct).GetAwaiter().GetResult();
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
            .AddColumns("Client", "HTTP/2 windows", "unary p50 (us)", "unary p99 (us)", "download (MiB/s)", "upload (MiB/s)");
        foreach (var (setup, r) in results)
            table.AddRow(Markup.Escape(setup.Client), setup.Windows, $"{r.UnaryP50Us:F0}", $"{r.UnaryP99Us:F0}", $"{r.DownloadMiBps:F0}", $"{r.UploadMiBps:F0}");
        console.Write(table);
        console.MarkupLine(Markup.Escape(
            "tuned: server windows 32 MiB/16 MiB (connection/stream), 1 MiB frames, 4 MiB response buffer; our client's stream window 8 MiB. " +
            "defaults: Kestrel's 1 MiB/768 KiB, 16 KiB frames, 64 KiB buffer; .NET's 64 KiB (auto-grown) stream window. grpcio keeps its own client settings."));
        var ours = results.Where(r => !r.Setup.Python).ToList();
        if (ours.Count == 2)
            console.MarkupLine(Markup.Escape(
                $"tuned / defaults (sd3mesh client): download x{ours[0].Result.DownloadMiBps / ours[1].Result.DownloadMiBps:F2}, upload x{ours[0].Result.UploadMiBps / ours[1].Result.UploadMiBps:F2}"));
        return 0;
    }

    private static async Task<RpcBenchmarkResult> MeasureAsync(Setup setup, double rttMs, string python, string descriptorSet,
        int calls, long streamBytes, int frameBytes, CancellationToken ct)
    {
        await using var server = new GrpcServer(new GrpcServerOptions { Http2 = setup.Server });
        server.MapService(RpcBenchmarkService.Descriptor, new RpcBenchmarkService());
        await server.StartAsync(ct);
        await using var proxy = rttMs > 0
            ? new DelayProxy(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, server.Port), TimeSpan.FromMilliseconds(rttMs))
            : null;
        int port = proxy?.Port ?? server.Port;
        if (setup.Python) return await RunPythonAsync(python, descriptorSet, port, calls, streamBytes, frameBytes, ct);
        using var channel = new GrpcChannel(new Uri($"http://127.0.0.1:{port}"), new GrpcChannelOptions { InitialStreamWindowSize = setup.ClientWindow });
        return await RpcBenchmarkRunner.RunAsync(channel, calls, streamBytes, frameBytes, ct);
    }

    private static async Task<RpcBenchmarkResult> RunPythonAsync(string python, string descriptorSet, int port, int calls, long streamBytes,
        int frameBytes, CancellationToken ct)
    {
        var info = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "python", "rpc_bench_client.py"), descriptorSet, $"127.0.0.1:{port}",
                     calls.ToString(), streamBytes.ToString(), frameBytes.ToString() })
            info.ArgumentList.Add(a);
        info.Environment["no_proxy"] = "127.0.0.1";
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{python} did not start");
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
