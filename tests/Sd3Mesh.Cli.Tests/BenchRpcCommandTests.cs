using Sd3Mesh.Cli.Commands;
using Spectre.Console;

namespace Sd3Mesh.Cli.Tests;

public sealed class BenchRpcCommandTests
{
    private static (IAnsiConsole Console, StringWriter Output) Capture() => CapturedConsole.Create();

    [Fact]
    public async Task A_tiny_run_measures_every_pair_of_grpc_dotnet_and_grpcio()
    {
        var (console, output) = Capture();
        Assert.Equal(0, await BenchRpcCommand.RunAsync(console, calls: 10, streamMb: 1, frameKb: 256, rttMs: 0, "/usr/bin/python3", CancellationToken.None));
        var text = output.ToString();
        Assert.Matches(@"│ grpc-dotnet\s+│ grpc-dotnet\s+│ tuned\s+│ \d+\s+│ \d+\s+│ \d+\s+│ \d+", text);
        Assert.Matches(@"│ grpc-dotnet\s+│ grpc-dotnet\s+│ defaults\s+│ \d+", text);
        Assert.Matches(@"│ grpcio \(Python\)\s+│ grpc-dotnet\s+│ tuned server\s+│ \d+", text);
        Assert.Matches(@"│ grpcio \(Python\)\s+│ grpcio \(Python\)\s+│ defaults\s+│ \d+", text);
        Assert.Matches(@"│ grpc-dotnet\s+│ grpcio \(Python\)\s+│ tuned client\s+│ \d+", text);
        Assert.Contains("tuned / defaults (grpc-dotnet both sides): download x", text);
    }

    [Fact]
    public async Task Bad_settings_are_refused()
    {
        var (console, output) = Capture();
        Assert.Equal(2, await BenchRpcCommand.RunAsync(console, 10, 1, 64 * 1024, 0, "none", CancellationToken.None));
        Assert.Contains("--frame-kb in [1, 16384]", output.ToString());
        (console, output) = Capture();
        Assert.Equal(2, await BenchRpcCommand.RunAsync(console, 10, 5000, 4 * 1024 * 1024, 0, "none", CancellationToken.None));
        Assert.Contains("--frame-kb in [1, 16384]", output.ToString());
        (console, output) = Capture();
        Assert.Equal(2, await BenchRpcCommand.RunAsync(console, 10, 1, 256, -1, "none", CancellationToken.None));
        Assert.Contains("--rtt-ms must be in [0, 1000], got -1", output.ToString());
        (console, output) = Capture();
        Assert.Equal(2, await BenchRpcCommand.RunAsync(console, 10, 1, 256, 0, "/no/python", CancellationToken.None));
        Assert.Contains("--python: /no/python not found", output.ToString());
    }
}
