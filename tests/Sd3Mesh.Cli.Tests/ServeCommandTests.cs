using System.Net;
using System.Net.Sockets;
using Sd3Mesh.Cli.Commands;

namespace Sd3Mesh.Cli.Tests;

/// <summary>`sd3mesh serve --models` on the tiny models, driven by `generate --server`.</summary>
public class ServeCommandTests(TinyModelFolder folder) : IClassFixture<TinyModelFolder>
{

    private static async Task WaitUntilListeningAsync(int port, Task<int> serve)
    {
        for (int attempt = 0; attempt < 200 && !serve.IsCompleted; attempt++)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
        throw new TimeoutException($"serve did not listen on port {port}" + (serve.IsCompleted ? $" (it exited with {serve.Result})" : ""));
    }

    [Fact]
    public async Task Generate_server_writes_the_same_png_as_local_generate()
    {
        string root = Path.Combine(folder.Path, "serve-" + Guid.NewGuid().ToString("N")[..6]);
        var values = new GenerateOptions.Values
        {
            Prompt = "a photo of a cat", Negative = "blurry", Width = 64, Height = 64, Steps = 4, Seeds = [7], Models = folder.Model,
            Out = Path.Combine(root, "local"),
        };
        var (console, _) = CapturedConsole.Create();
        Assert.Equal(0, await GenerateRunner.RunAsync(console, values, () => GenerateCommand.Load(console, values.Models, Onnx.Device.Cpu)));

        var ports = Sd3Mesh.Runtime.Config.EmbeddedCluster.FreeLoopbackPorts(2);
        int port = ports[0], webPort = ports[1];
        var (serveConsole, serveOutput) = CapturedConsole.Create();
        using var stop = new CancellationTokenSource();
        var serve = ServeCommand.RunAsync(serveConsole, new ServeCommand.Settings($"127.0.0.1:{port}", new DirectoryInfo(folder.Model),
            HttpListen: $"127.0.0.1:{webPort}", Data: new DirectoryInfo(Path.Combine(root, "data"))), stop.Token);
        await WaitUntilListeningAsync(port, serve);

        // The same options give the same request either way; previews asked for on the wire do not reach the
        // terminal: one line per step, no preview spam.
        var request = GenerateOptions.ToRequest(values with { Models = null }).Request;
        request.PreviewInterval = 1;
        var (remoteConsole, remoteOutput) = CapturedConsole.Create();
        var remoteDir = new DirectoryInfo(Path.Combine(root, "remote"));
        Assert.Equal(0, await RemoteGenerate.RunAsync(request, new Uri($"http://127.0.0.1:{port}"), remoteDir, remoteConsole, CancellationToken.None));

        // Image-to-image from that PNG (its size by default; strength 0.6 runs 6 of 10 steps on both paths).
        var img2img = values with { InitImage = Path.Combine(values.Out, "sd3_generated_001.png"), Width = null, Height = null, Steps = 10, Strength = 0.6 };
        Assert.Equal(0, await GenerateRunner.RunAsync(console, img2img, () => GenerateCommand.Load(console, img2img.Models, Onnx.Device.Cpu)));
        Assert.Equal(0, await RemoteGenerate.RunAsync(remoteConsole, img2img with { Models = null, Out = remoteDir.FullName }, $"http://127.0.0.1:{port}",
            CancellationToken.None));

        // The dashboard's JSON lists both jobs, newest first.
        using (var http = new HttpClient())
        {
            using var jobs = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{webPort}/api/jobs"));
            Assert.Equal([("succeeded", 6), ("succeeded", 4)], jobs.RootElement.GetProperty("jobs").EnumerateArray()
                .Select(j => (j.GetProperty("state").GetString(), j.GetProperty("steps").GetInt32())));
        }

        stop.Cancel();
        Assert.Equal(0, await serve.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains($"dashboard at http://127.0.0.1:{webPort}/ (Orleans dashboard at /orleans/, Prometheus metrics at /metrics)", serveOutput.ToString());
        Assert.Contains($"sd3mesh serving tiny-fp32-seed0 on cpu at http://127.0.0.1:{port}/", serveOutput.ToString());
        Assert.Contains($"jobs kept in SQLite {Path.Combine(root, "data", "jobs.db")}, results in {Path.Combine(root, "data")} (0 from earlier runs)", serveOutput.ToString());
        Assert.Contains("stopping: cancelling jobs of open Generate calls, keeping submitted jobs for the next start, draining calls", serveOutput.ToString());
        Assert.Contains("stopped", serveOutput.ToString());

        Assert.Equal(File.ReadAllBytes(Path.Combine(values.Out, "sd3_generated_001.png")), File.ReadAllBytes(Path.Combine(remoteDir.FullName, "sd3_generated_001.png")));
        var img2imgPng = File.ReadAllBytes(Path.Combine(remoteDir.FullName, "sd3_generated_002.png"));
        Assert.Equal(File.ReadAllBytes(Path.Combine(values.Out, "sd3_generated_002.png")), img2imgPng);
        Assert.Equal("0.6", Pipeline.Imaging.PngDecoder.Decode(img2imgPng).Text["strength"]);
        var lines = remoteOutput.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4 + 6, lines.Count(l => l.Contains(": step ")));
        Assert.DoesNotContain(lines, l => l.Contains("preview", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(lines, l => l.Contains("sd3_generated_001.png (64x64, seed 7,"));
    }
    [Fact]
    public async Task The_default_web_address_taken_the_dashboard_takes_a_free_port_and_says_so()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int busy = ((IPEndPoint)taken.LocalEndpoint).Port;
        var (console, output) = CapturedConsole.Create();
        using var stop = new CancellationTokenSource();
        string root = Path.Combine(folder.Path, "serve-busy-" + Guid.NewGuid().ToString("N")[..6]);
        var serve = ServeCommand.RunAsync(console, new ServeCommand.Settings($"127.0.0.1:{Sd3Mesh.Runtime.Config.EmbeddedCluster.FreeLoopbackPorts(1)[0]}", new DirectoryInfo(folder.Model),
            HttpListen: $"127.0.0.1:{busy}", Data: new DirectoryInfo(root), HttpFallback: true), stop.Token);
        for (int i = 0; i < 600 && !output.ToString().Contains("dashboard at") && !serve.IsCompleted; i++) await Task.Delay(50);
        stop.Cancel();
        Assert.Equal(0, await serve.WaitAsync(TimeSpan.FromSeconds(30)));
        string text = output.ToString();
        Assert.Contains($"127.0.0.1:{busy} is in use: the web endpoint takes a free port", text);
        var url = System.Text.RegularExpressions.Regex.Match(text, @"dashboard at http://127\.0\.0\.1:(\d+)/");
        Assert.True(url.Success, text);
        Assert.NotEqual(busy, int.Parse(url.Groups[1].Value));
    }
}
