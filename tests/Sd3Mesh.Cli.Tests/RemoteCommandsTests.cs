using System.Text.RegularExpressions;
using Google.Protobuf;
using Sd3Mesh.Cli.Commands;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Rpc;
using Sd3Mesh.Server;
using Sd3Mesh.Server.Generation;
using Sd3Mesh.Server.Tests;
using Spectre.Console;

namespace Sd3Mesh.Cli.Tests;

/// <summary>generate --server, jobs and serve against a real in-process silo with a scripted executor.</summary>
public sealed class RemoteCommandsTests : IDisposable
{
    private readonly DirectoryInfo _out = Directory.CreateTempSubdirectory("sd3mesh-cli-test-");

    public void Dispose() => _out.Delete(recursive: true);

    private static (IAnsiConsole Console, StringWriter Output) Capture() => CapturedConsole.Create(250);

    private static async Task<SiloHost> StartSilo(ScriptedExecutor executor, SiloHostOptions? options = null)
    {
        options ??= new SiloHostOptions();
        options.Listen = "127.0.0.1:0";
        var host = new SiloHost(executor, options);
        await host.StartAsync();
        return host;
    }

    private static GenerateRequest Request(int count = 2) => RemoteGenerate.BuildRequest(new GenerateOptions.Values
    {
        Prompt = "a red fox", Steps = 4, Guidance = 5, Width = 32, Height = 16, Seeds = [100], Count = count,
    });

    [Fact]
    public async Task Generate_writes_the_servers_pngs_as_new_numbered_files()
    {
        await using var host = await StartSilo(new ScriptedExecutor());
        var existing = Path.Combine(_out.FullName, "sd3_generated_001.png");
        await File.WriteAllTextAsync(existing, "keep me");
        var (console, output) = Capture();

        Assert.Equal(0, await RemoteGenerate.RunAsync(Request(), host.Address, _out, console, CancellationToken.None));

        Assert.Equal("keep me", await File.ReadAllTextAsync(existing));
        Assert.Equal(ScriptedExecutor.ExpectedPng(32, 16, 100), await File.ReadAllBytesAsync(Path.Combine(_out.FullName, "sd3_generated_002.png")));
        Assert.Equal(ScriptedExecutor.ExpectedPng(32, 16, 101), await File.ReadAllBytesAsync(Path.Combine(_out.FullName, "sd3_generated_003.png")));
        var text = output.ToString();
        Assert.Contains("queued at position 0", text);
        Assert.Contains("step 4/4", text);
        Assert.Contains("sd3_generated_003.png (32x16, seed 101,", text);
    }

    [Fact]
    public async Task Generate_fetches_images_too_large_to_travel_inline()
    {
        await using var host = await StartSilo(new ScriptedExecutor(), new SiloHostOptions { InlineImageLimit = 10 });
        var (console, _) = Capture();
        Assert.Equal(0, await RemoteGenerate.RunAsync(Request(count: 1), host.Address, _out, console, CancellationToken.None));
        Assert.Equal(ScriptedExecutor.ExpectedPng(32, 16, 100), await File.ReadAllBytesAsync(Path.Combine(_out.FullName, "sd3_generated_001.png")));
    }

    [Fact]
    public async Task Generate_reports_images_it_cannot_save_instead_of_crashing()
    {
        await using var host = await StartSilo(new ScriptedExecutor());
        var notAFolder = Path.Combine(_out.FullName, "taken");
        await File.WriteAllTextAsync(notAFolder, "a file where the output folder should go");
        var (console, output) = Capture();
        Assert.Equal(1, await RemoteGenerate.RunAsync(Request(count: 1), host.Address, new DirectoryInfo(notAFolder), console, CancellationToken.None));
        Assert.Matches($"image [0-9a-f]{{16}}_0 not saved: .*{Regex.Escape(notAFolder)}", output.ToString());
    }

    [Fact]
    public async Task An_unusable_certificate_to_trust_is_reported_not_thrown()
    {
        var missing = Path.Combine(_out.FullName, "no-such-cert.pem");
        Environment.SetEnvironmentVariable(ServerChannel.TrustedCertificateVariable, missing);
        try
        {
            var (console, output) = Capture();
            Assert.Equal(2, await RemoteGenerate.RunAsync(Request(), new Uri("https://127.0.0.1:1"), _out, console, CancellationToken.None));
            Assert.Contains($"SD3MESH_SERVER_CERT: '{missing}' is not a readable PEM certificate", output.ToString());
        }
        finally
        {
            Environment.SetEnvironmentVariable(ServerChannel.TrustedCertificateVariable, null);
        }
    }

    [Fact]
    public async Task Generate_reports_refused_requests_failed_jobs_and_unreachable_servers()
    {
        var executor = new ScriptedExecutor();
        await using var host = await StartSilo(executor);
        var (console, output) = Capture();
        var bad = Request();
        bad.Steps = 0;
        Assert.Equal(2, await RemoteGenerate.RunAsync(bad, host.Address, _out, console, CancellationToken.None));
        Assert.Contains("the server refused the request: invalid GenerateRequest: steps: 0 is outside the allowed range 1..1000", output.ToString());

        executor.Failure = new RpcException(Rpc.StatusCode.ResourceExhausted, "out of device memory");
        (console, output) = Capture();
        Assert.Equal(1, await RemoteGenerate.RunAsync(Request(), host.Address, _out, console, CancellationToken.None));
        Assert.Contains("failed (RESOURCE_EXHAUSTED): out of device memory", output.ToString());
        Assert.Empty(_out.GetFiles());

        int port;
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }
        (console, output) = Capture();
        Assert.Equal(3, await RemoteGenerate.RunAsync(Request(), new Uri($"http://127.0.0.1:{port}"), _out, console, CancellationToken.None));
        Assert.Contains($"server unavailable (http://127.0.0.1:{port}/): cannot reach http://127.0.0.1:{port}/: Connection refused", output.ToString());
    }

    [Fact]
    public async Task Ctrl_c_cancels_the_job_on_the_server()
    {
        var executor = new ScriptedExecutor { StepDelay = TimeSpan.FromMilliseconds(20) };
        await using var host = await StartSilo(executor);
        var (console, output) = Capture();
        using var ctrlC = new CancellationTokenSource();
        var request = Request();
        request.Steps = 1000;
        _ = executor.Started.Task.ContinueWith(_ => ctrlC.CancelAfter(100), TaskScheduler.Default);

        Assert.Equal(130, await RemoteGenerate.RunAsync(request, host.Address, _out, console, ctrlC.Token));
        Assert.Equal("a red fox", await executor.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5)));
        var job = Assert.Single((await new GenerationClient(new GrpcChannel(host.Address)).ListJobsAsync(new ListJobsRequest())).Jobs);
        Assert.Equal(JobState.Cancelled, job.State);
        Assert.Matches("cancelled job [0-9a-f]{16} on the server|the Generate call was cancelled", output.ToString());
        Assert.Empty(_out.GetFiles());
    }

    [Fact]
    public async Task Jobs_list_cancel_and_watch()
    {
        var executor = new ScriptedExecutor { Gate = new(TaskCreationOptions.RunContinuationsAsynchronously) };
        await using var host = await StartSilo(executor);
        using var channel = new GrpcChannel(host.Address);
        var client = new GenerationClient(channel);
        var running = await client.SubmitAsync(Request(count: 1));
        await executor.Started.Task.WaitAsync(TimeSpan.FromSeconds(5));
        var queued = await client.SubmitAsync(Request(count: 1));

        var (console, output) = Capture();
        Assert.Equal(0, await JobsCommand.ListAsync(console, client, [], 50, CancellationToken.None));
        Assert.Matches($@"{queued.JobId}\s+│ queued\s+│ a red fox\s+│ 32x16\s+│ position 1", output.ToString());
        Assert.Matches($@"{running.JobId}\s+│ running", output.ToString());

        (console, output) = Capture();
        Assert.Equal(0, await JobsCommand.CancelAsync(console, client, queued.JobId, CancellationToken.None));
        Assert.Equal($"cancelled job {queued.JobId}", output.ToString().Trim());

        (console, output) = Capture();
        Assert.Equal(0, await JobsCommand.ListAsync(console, client, ["cancelled"], 50, CancellationToken.None));
        Assert.Contains(queued.JobId, output.ToString());
        Assert.DoesNotContain(running.JobId, output.ToString());

        (console, output) = Capture();
        var watch = JobsCommand.WatchAsync(console, client, running.JobId, _out, CancellationToken.None);
        executor.Gate.SetResult();
        Assert.Equal(0, await watch);
        Assert.Equal(ScriptedExecutor.ExpectedPng(32, 16, 100), await File.ReadAllBytesAsync(Path.Combine(_out.FullName, "sd3_generated_001.png")));
        Assert.Contains("step 4/4", output.ToString());

        (console, output) = Capture();
        Assert.Equal(2, await JobsCommand.ListAsync(console, client, ["finished"], 50, CancellationToken.None));
        Assert.Contains("--state: unknown state 'finished'", output.ToString());
        foreach (int limit in new[] { 0, 501 })
        {
            (console, output) = Capture();
            Assert.Equal(2, await JobsCommand.ListAsync(console, client, [], limit, CancellationToken.None));
            Assert.Contains($"--limit must be in [1, 500], got {limit}", output.ToString());
        }
    }

    [Fact]
    public async Task Jobs_list_shows_the_size_the_server_chose()
    {
        // A model whose native size is 64 x 64: requests without width and height get that.
        await using var host = await StartSilo(new ScriptedExecutor { Model = new Pipeline.Sd3ModelConfig { SampleSize = 8 } });
        using var channel = new GrpcChannel(host.Address);
        var client = new GenerationClient(channel);
        var request = Request(count: 1);
        request.ClearWidth();
        request.ClearHeight();
        var events = new List<JobEvent>();
        using (var call = client.Generate(request))
            await foreach (var e in call.ResponseStream) events.Add(e);
        Assert.Equal((64u, 64u), (events[^1].Finished.Images[0].Width, events[^1].Finished.Images[0].Height));

        var (console, output) = Capture();
        Assert.Equal(0, await JobsCommand.ListAsync(console, client, [], 50, CancellationToken.None));
        Assert.Matches($@"{events[0].JobId}\s+│ succeeded\s+│ a red fox\s+│ 64x64\s+│", output.ToString());
    }

    [Fact]
    public async Task Serve_checks_its_options_before_loading_anything()
    {
        var (console, output) = Capture();
        Assert.Equal(1, await ServeCommand.RunAsync(console, "127.0.0.1:0", new DirectoryInfo("/no/such/models"), "cpu", null, null, CancellationToken.None));
        Assert.Contains("--models: '/no/such/models' does not exist", output.ToString());
        (console, output) = Capture();
        Assert.Equal(1, await ServeCommand.RunAsync(console, "127.0.0.1:0", _out, "gpu:0", null, null, CancellationToken.None));
        Assert.Contains("--device: unknown device 'gpu:0': expected cpu, cpu:N or cuda:N", output.ToString());
        (console, output) = Capture();
        Assert.Equal(1, await ServeCommand.RunAsync(console, "nowhere", null, "cpu", null, null, CancellationToken.None));
        Assert.Contains("listen address 'nowhere' is not HOST:PORT", output.ToString());
        (console, output) = Capture();
        Assert.Equal(1, await ServeCommand.RunAsync(console, "127.0.0.1:0", _out, "cpu", null, null, CancellationToken.None));
        Assert.Contains($"{_out.FullName} is not an SD3 ONNX model repository", output.ToString());
    }

    [Fact]
    public void Options_map_to_the_request()
    {
        var png = Path.Combine(_out.FullName, "init.png");
        File.WriteAllBytes(png, TestPng.Encode(2, 2, (_, _) => (0, 0, 0)));
        var request = RemoteGenerate.BuildRequest(new GenerateOptions.Values
        {
            Prompt = "p", Prompt2 = "p2", Negative = "n", Negative3 = "n3", Steps = 30, Guidance = 4.5, Height = 512,
            Seeds = [1, 5, 9], Count = 3, MaxSequenceLength = 77, NoT5 = true, InitImage = png, Strength = 0.25,
            OutputType = Pipeline.OutputType.Latent, ClipSkip = 2, Cfg = Pipeline.Guidance.CfgMode.Split,
        });
        Assert.Equal(("p", "p2", "", "n", "", "n3"), (request.Prompt, request.Prompt2, request.Prompt3, request.NegativePrompt, request.NegativePrompt2, request.NegativePrompt3));
        Assert.Equal((30u, 4.5f, false, true, 512u), (request.Steps, request.GuidanceScale, request.HasWidth, request.HasHeight, request.Height));
        Assert.Equal([1UL, 5UL, 9UL], request.Seeds);
        Assert.False(request.HasSeed);
        Assert.Equal(3u, request.Count);
        Assert.Equal((77u, true, OutputType.Latent, 2u, CfgMode.Split), (request.MaxSequenceLength, request.NoT5, request.OutputType, request.ClipSkip, request.CfgMode));
        Assert.Equal(ByteString.CopyFrom(File.ReadAllBytes(png)), request.InitImage);
        Assert.Equal(0.25f, request.Strength);

        var single = RemoteGenerate.BuildRequest(new GenerateOptions.Values { Prompt = "p", Seeds = [7] });
        Assert.Equal((true, 7UL, false, 0u), (single.HasSeed, single.Seed, single.HasStrength, single.ClipSkip));

        Assert.Equal("--init-image: '/no/such.png' does not exist",
            Assert.Throws<ArgumentException>(() => RemoteGenerate.BuildRequest(new GenerateOptions.Values { Prompt = "p", InitImage = "/no/such.png" })).Message);
        Assert.Equal("--steps must not be negative, got -3",
            Assert.Throws<ArgumentException>(() => RemoteGenerate.BuildRequest(new GenerateOptions.Values { Prompt = "p", Steps = -3 })).Message);
        Assert.StartsWith("--latents cannot be sent to a server",
            Assert.Throws<ArgumentException>(() => RemoteGenerate.BuildRequest(new GenerateOptions.Values { Prompt = "p", Latents = "x.npy" })).Message);
        Assert.StartsWith("--device: the server places the submodules",
            Assert.Throws<ArgumentException>(() => RemoteGenerate.BuildRequest(new GenerateOptions.Values { Prompt = "p", Device = "cuda:0" })).Message);
    }
}
