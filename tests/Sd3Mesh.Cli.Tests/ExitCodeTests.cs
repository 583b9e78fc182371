using Grpc.Core;
using Sd3Mesh.Server;
using Sd3Mesh.Server.Tests;

namespace Sd3Mesh.Cli.Tests;

/// <summary>
/// README's exit-code rule, command by command, on the real `sd3mesh` process: 0 done, 1 the work failed,
/// 2 the command line cannot run as given (one message, no stack trace), 3 the server cannot be reached,
/// 130 interrupted (see <see cref="SignalTests"/>).
/// </summary>
public sealed class ExitCodeTests(TinyModelFolder folder) : IClassFixture<TinyModelFolder>
{
    private sealed record Case(int ExitCode, string Output, params string[] Args);

    private static string Unreachable()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return $"http://127.0.0.1:{((System.Net.IPEndPoint)listener.LocalEndpoint).Port}";
    }

    [Fact]
    public async Task Every_command_follows_the_rule()
    {
        var executor = new ScriptedExecutor();
        await using var silo = await TestSilo.StartAsync(executor: executor);
        var failing = new ScriptedExecutor { Failure = new RpcException(new Status(StatusCode.ResourceExhausted, "out of device memory")) };
        await using var failingSilo = await TestSilo.StartAsync(executor: failing);
        string live = silo.Host.Address.ToString(), nowhere = Unreachable(), tiny = folder.Model;
        string outDir = Path.Combine(folder.Path, "exit-codes-" + Guid.NewGuid().ToString("N")[..6]);
        string aFile = Path.Combine(folder.Path, "a-file-" + Guid.NewGuid().ToString("N")[..6]);
        await File.WriteAllTextAsync(aFile, "not a folder");
        string[] small = ["--width", "32", "--height", "32", "--steps", "2", "--seed", "1"];

        Case[] cases =
        [
            // No command, an unknown one, an unknown option: the usage, exit 2.
            new(2, "Commands:"),
            new(2, "error: Unrecognized command or argument 'nosuch'", "nosuch"),
            new(2, "error: Unrecognized command or argument '--bogus'", "doctor", "--bogus"),
            // doctor
            new(0, "CPUExecutionProvider", "doctor"),
            new(2, "--check: unknown device 'tpu:0'", "doctor", "--check", "tpu:0"),
            // bench
            new(2, "--calls and --stream-mb must be >= 1", "bench", "rpc", "--calls", "0", "--python", "none"),
            new(2, "error: Cannot parse argument 'x' for option '--steps'", "bench", "pipeline", "--steps", "x"),
            // generate, in this process
            new(0, "wrote ", ["generate", "a cat", "--models", tiny, "--out", outDir, .. small]),
            new(2, "error: --steps: 'abc' is not a whole number", "generate", "a cat", "--steps", "abc"),
            new(2, "error: --strength: applies to image-to-image only", "generate", "a cat", "--models", tiny, "--strength", "0.5"),
            new(2, "cuda:0", ["generate", "a cat", "--models", tiny, "--device", "cuda:0", "--out", outDir, .. small]),
            new(2, "is missing", "generate", "a cat", "--models", "/no/such/models"),
            new(1, "cannot write to", ["generate", "a cat", "--models", tiny, "--out", aFile, .. small]),
            // generate --server
            new(0, "finished in", ["generate", "a fox", "--server", live, "--out", outDir, .. small]),
            new(1, "failed (RESOURCE_EXHAUSTED): out of device memory", ["generate", "a fox", "--server", failingSilo.Host.Address.ToString(), .. small]),
            new(2, "the server refused the request: invalid GenerateRequest: steps: 0 is outside", "generate", "a fox", "--server", live, "--steps", "0"),
            new(3, "cannot reach the server at", "generate", "a fox", "--server", nowhere),
            // jobs
            new(0, "Job", "jobs", "--server", live),
            new(2, "--limit must be in [1, 500], got 0", "jobs", "--limit", "0", "--server", live),
            new(2, "no job '0000000000000000'", "jobs", "cancel", "0000000000000000", "--server", live),
            new(3, "cannot reach the server at", "jobs", "--server", nowhere),
            new(3, "cannot reach the server at", "jobs", "watch", "abc", "--server", nowhere),
            // serve (its clean stop is in SignalTests; its other option checks in RemoteCommandsTests)
            new(2, "listen address 'nowhere' is not HOST:PORT", "serve", "--listen", "nowhere"),
            new(2, "--device: unknown device 'tpu:0'", "serve", "--device", "tpu:0"),
            // models
            new(0, "transformer", "models", "inspect", tiny),
            new(2, "is missing", "models", "inspect", "/no/such"),
        ];

        // Four at a time: each is a process of its own.
        var results = new (int ExitCode, string Output)[cases.Length];
        using var slots = new SemaphoreSlim(4);
        await Task.WhenAll(cases.Select(async (c, i) =>
        {
            await slots.WaitAsync();
            try { results[i] = await CliProcess.RunAsync(c.Args); }
            finally { slots.Release(); }
        }));

        var mismatches = cases.Zip(results)
            .Where(p => p.Second.ExitCode != p.First.ExitCode || !p.Second.Output.Contains(p.First.Output, StringComparison.Ordinal)
                        || p.Second.Output.Contains("   at ", StringComparison.Ordinal))
            .Select(p => $"sd3mesh {string.Join(' ', p.First.Args)}: expected {p.First.ExitCode} and '{p.First.Output}', got {p.Second.ExitCode}:\n{p.Second.Output}")
            .ToList();
        Assert.True(mismatches.Count == 0, string.Join("\n\n", mismatches));
    }

    [Fact]
    public async Task Cached_models_are_used_without_a_word_after_the_first_run()
    {
        // The models load, then the request is refused (exit 2): enough to see whether they were prepared.
        var cache = Path.Combine(folder.Path, "cache-" + Guid.NewGuid().ToString("N")[..6]);
        string[] args = ["generate", "a cat", "--strength", "0.5"];
        var first = await CliProcess.RunAsync(args, cacheHome: cache);
        Assert.True(first.ExitCode == 2, first.Output);
        Assert.Contains($"preparing tiny fp32 models in {Path.Combine(cache, "sd3mesh", "models")} (once)", first.Output);
        var second = await CliProcess.RunAsync(args, cacheHome: cache);
        Assert.True(second.ExitCode == 2, second.Output);
        Assert.Contains("--strength: applies to image-to-image only", second.Output);
        Assert.DoesNotContain("preparing", second.Output);
    }
}
