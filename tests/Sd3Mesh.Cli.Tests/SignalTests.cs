using Grpc.Core;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Grpc;
using Sd3Mesh.Server.Tests;
using E = Sd3Mesh.Protos.V1.JobEvent.EventOneofCase;

namespace Sd3Mesh.Cli.Tests;

/// <summary>Ctrl+C (SIGINT) and SIGTERM sent to real `sd3mesh` processes.</summary>
public sealed class SignalTests(TinyModelFolder folder) : IClassFixture<TinyModelFolder>
{
    private string DataFolder() => Path.Combine(folder.Path, "data-" + Guid.NewGuid().ToString("N")[..8]);


    private CliProcess Serve(int port) =>
        CliProcess.Start(["serve", "--listen", $"127.0.0.1:{port}", "--http", "none", "--models", folder.Model, "--data", DataFolder()]);

    [Theory]
    [InlineData(CliProcess.SigTerm)]
    [InlineData(CliProcess.SigInt)]
    public async Task Serve_stops_gracefully_and_exits_0(int signal)
    {
        int port = Sd3Mesh.Runtime.Config.EmbeddedCluster.FreeLoopbackPorts(1)[0];
        using var serve = Serve(port);
        await serve.WaitForOutputAsync("Ctrl+C stops", TimeSpan.FromSeconds(60));
        serve.Signal(signal);
        Assert.Equal(0, await serve.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("stopping: cancelling jobs of open Generate calls, keeping submitted jobs for the next start, draining calls", serve.Output);
        Assert.Contains("stopped", serve.Output);
    }

    [Fact]
    public async Task Sigterm_cancels_the_running_job_ends_its_stream_and_exits_0_in_bounded_time()
    {
        int port = Sd3Mesh.Runtime.Config.EmbeddedCluster.FreeLoopbackPorts(1)[0];
        using var serve = Serve(port);
        await serve.WaitForOutputAsync("Ctrl+C stops", TimeSpan.FromSeconds(60));
        using var channel = GrpcChannels.Create($"http://127.0.0.1:{port}");
        using var call = new Protos.V1.Generation.GenerationClient(channel).Generate(
            new GenerateRequest { Prompt = "a long job", Width = 64, Height = 64, Steps = 1000, Seed = 1 });
        var events = new List<JobEvent>();
        while (await call.ResponseStream.MoveNext())
        {
            events.Add(call.ResponseStream.Current);
            if (call.ResponseStream.Current.EventCase == E.Step) break;
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        serve.Signal(CliProcess.SigTerm);
        while (await call.ResponseStream.MoveNext()) events.Add(call.ResponseStream.Current);
        Assert.Equal((E.Cancelled, "the server is shutting down"), (events[^1].EventCase, events[^1].Cancelled.Reason));
        Assert.Equal(0, await serve.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(15)); // DrainTimeout is 10 s; the job stops at its next step
        Assert.True(events.Count(e => e.EventCase == E.Step) < 1000);
    }

    [Fact]
    public async Task Ctrl_c_on_generate_server_cancels_the_job_there_and_exits_130()
    {
        var executor = new ScriptedExecutor { StepDelay = TimeSpan.FromMilliseconds(20) };
        await using var silo = await TestSilo.StartAsync(executor: executor);
        using var generate = CliProcess.Start(["generate", "a red fox", "--server", silo.Host.Address.ToString(), "--steps", "1000", "--width", "32", "--height", "32"]);
        await generate.WaitForOutputAsync(": step ", TimeSpan.FromSeconds(30));
        generate.Signal(CliProcess.SigInt);
        Assert.Equal(130, await generate.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal("a red fox", await executor.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5)));
        var job = Assert.Single((await silo.Client.ListJobsAsync(new ListJobsRequest())).Jobs);
        Assert.Equal(JobState.Cancelled, job.State);
    }
}
