using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Hosting;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Hosting;
using Sd3Mesh.Runtime.Placement;
using Sd3Mesh.Runtime.Tensors;
using Sd3Mesh.Runtime.Transport;
using Sd3Mesh.Server.Grpc;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Benchmarks;

/// <summary>
/// A tensor from silo s1 to silo s0: two silos in this process, composed as a silo host composes them (the Generic
/// Host of Sd3Mesh.Server's GrpcHosting with its Kestrel HTTP/2 settings, Orleans with UseSd3MeshSilo, the tensor
/// transport), talking over loopback. Paths: the gRPC pull alone (GrpcTensorExchange); a grain call answering a
/// TensorRef that the calling grain resolves (the runtime's path); Orleans' own messaging carrying the tensor as byte[]
/// and as float[] in a grain call's response; memcpy of the same bytes, into a buffer and into a new array, as the
/// limit. Every round runs every path once (1 MiB: 16 times), in a shuffled order, so a change in the machine's load
/// and the garbage one path leaves for the next hit all paths alike;
/// the table gives medians over rounds, the best round, and the process's CPU time per operation (both silos and the
/// caller), which a busy machine disturbs less than wall time.
/// <code>dotnet run -c Release --project tests/Sd3Mesh.Benchmarks -- transport [--rounds 15] [--sizes 1,64]</code>
/// </summary>
public static class TransportThroughput
{
    private const string Source = "bench/source@cpu:1", Sink = "bench/sink@cpu:0";

    private sealed record PathResult(string Name, List<double> Seconds, List<double> CpuSeconds);

    public static async Task RunAsync(string[] args)
    {
        int rounds = int.Parse(Option(args, "--rounds") ?? "15", CultureInfo.InvariantCulture);
        var sizes = (Option(args, "--sizes") ?? "1,64").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        Console.WriteLine($"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, .NET {Environment.Version}, {Environment.ProcessorCount} logical cores, " +
                          $"load average {LoadAverage()}, {rounds} rounds after 2 warm-up rounds");

        var config = TwoSilos();
        var silos = new List<WebApplication>();
        try
        {
            foreach (var spec in config.Silos)
            {
                var builder = GrpcHosting.CreateBuilder(new GrpcServerOptions { Listen = $"{spec.Host}:{spec.GrpcPort}" });
                builder.UseOrleans(silo => silo.UseSd3MeshSilo(config, spec));
                builder.Services.AddTensorTransport(spec.Name, spec.GrpcUri);
                var app = builder.Build();
                app.MapTensorTransport();
                await app.StartAsync();
                silos.Add(app);
            }
            await UntilDevicesAdvertisedAsync(silos[0].Services, config.AllDevices.Count());
            var reader = silos[0].Services.GetRequiredService<ITensorExchange>();
            var owner = silos[1].Services.GetRequiredService<ITensorExchange>();
            var sink = silos[0].Services.GetRequiredService<IGrainFactory>().GetGrain<ITensorSinkGrain>(Sink);
            foreach (var mib in sizes)
                await MeasureAsync(mib, rounds, reader, owner, sink);
        }
        finally
        {
            foreach (var app in Enumerable.Reverse(silos))
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }
        Console.WriteLine($"load average at the end: {LoadAverage()}");
    }

    private static async Task MeasureAsync(int mib, int rounds, ITensorExchange reader, ITensorExchange owner, ITensorSinkGrain sink)
    {
        int bytes = mib << 20;
        var data = new byte[bytes];
        new Random(mib).NextBytes(data);
        var target = new byte[bytes];
        var tensor = new Tensor(DType.Float32, new TensorShape(bytes / 4), data);
        (string Name, Func<Task<long>> Run)[] paths =
        [
            ("memcpy into a buffer", () => { data.AsSpan().CopyTo(target); return Task.FromResult((long)bytes); }),
            ("memcpy into a new array", () =>
            {
                var copy = GC.AllocateUninitializedArray<byte>(bytes);
                data.AsSpan().CopyTo(copy);
                return Task.FromResult(copy.LongLength);
            }),
            ("gRPC pull (GrpcTensorExchange)", async () => (await reader.ResolveAsync(owner.Publish(tensor))).ByteCount),
            ("grain call -> TensorRef -> gRPC pull", () => sink.PullReference(Source, bytes)),
            ("Orleans grain call, byte[]", () => sink.PullBytes(Source, bytes)),
            ("Orleans grain call, float[]", () => sink.PullFloats(Source, bytes)),
        ];
        int repeat = Math.Max(1, 16 / mib);
        var results = paths.Select(p => new PathResult(p.Name, [], [])).ToArray();
        using var process = Process.GetCurrentProcess();
        var shuffle = new Random(mib);
        var order = Enumerable.Range(0, paths.Length).ToArray();
        for (int round = -2; round < rounds; round++)
        {
            shuffle.Shuffle(order);
            foreach (int i in order)
            {
                process.Refresh();
                var cpu = process.TotalProcessorTime;
                var clock = Stopwatch.StartNew();
                for (int r = 0; r < repeat; r++)
                    if (await paths[i].Run() != bytes) throw new InvalidOperationException($"{paths[i].Name} moved the wrong number of bytes");
                double seconds = clock.Elapsed.TotalSeconds / repeat;
                process.Refresh();
                if (round < 0) continue;
                results[i].Seconds.Add(seconds);
                results[i].CpuSeconds.Add((process.TotalProcessorTime - cpu).TotalSeconds / repeat);
            }
        }

        double memcpy = Median(results[0].Seconds);
        Console.WriteLine();
        Console.WriteLine($"{mib} MiB ({bytes} bytes), s1 -> s0; GB/s = 10^9 bytes/s; ratio = median time / memcpy's median time");
        Console.WriteLine();
        Console.WriteLine("| path | median ms | GB/s (median) | GB/s (best round) | CPU ms / op | x memcpy |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var r in results)
        {
            double median = Median(r.Seconds);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Name} | {median * 1e3:0.00} | {bytes / median / 1e9:0.000} | {bytes / r.Seconds.Min() / 1e9:0.000} | " +
                $"{Median(r.CpuSeconds) * 1e3:0.0} | {median / memcpy:0.0} |"));
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static string? Option(string[] args, string name) =>
        Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    private static ClusterConfig TwoSilos()
    {
        var p = EmbeddedCluster.FreeLoopbackPorts(6);
        return ClusterConfigReader.Parse($$"""
            { "name": "bench-transport", "model": { "preset": "tiny" },
              "silos": [
                { "name": "s0", "primary": true, "devices": ["cpu:0"], "silo_port": {{p[0]}}, "gateway_port": {{p[1]}}, "grpc_port": {{p[2]}} },
                { "name": "s1", "devices": ["cpu:1"], "silo_port": {{p[3]}}, "gateway_port": {{p[4]}}, "grpc_port": {{p[5]}} }
              ],
              "placement": { "text_encoder": "cpu:0", "text_encoder_2": "cpu:0", "text_encoder_3": "cpu:1", "transformer": "cpu:0", "vae": "cpu:0" } }
            """, "bench");
    }


    /// <summary>Until this silo sees every silo active and knows their devices (placement reads both).</summary>
    private static async Task UntilDevicesAdvertisedAsync(IServiceProvider silo, int devices)
    {
        var membership = silo.GetRequiredService<IClusterMembershipService>();
        var metadata = silo.GetRequiredService<ISiloMetadataCache>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active)
                   .Sum(m => SiloDevices.Devices(metadata.GetSiloMetadata(m.SiloAddress)).Count) < devices)
            await Task.Delay(50, timeout.Token);
    }
}
