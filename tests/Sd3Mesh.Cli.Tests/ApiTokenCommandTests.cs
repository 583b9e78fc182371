using System.Text.RegularExpressions;
using Sd3Mesh.Runtime.Config;

namespace Sd3Mesh.Cli.Tests;

/// <summary>`serve` beyond loopback makes an API token in its data folder once and shows it once; `generate --server`, `jobs` and `placement` need it.</summary>
public sealed class ApiTokenCommandTests(TinyModelFolder folder) : IClassFixture<TinyModelFolder>, IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "sd3mesh-data-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        try { Directory.Delete(_data, recursive: true); } catch (IOException) { }
    }

    private static Dictionary<string, string> Environment(string token = "") => new() { ["SD3MESH_TOKEN"] = token };

    [Fact]
    public async Task Serve_on_every_interface_shows_its_generated_token_once_and_clients_need_it()
    {
        int port = EmbeddedCluster.FreeLoopbackPorts(1)[0];
        string server = $"http://127.0.0.1:{port}";
        string tokenFile = Path.Combine(_data, "api-token");
        string[] serve = ["serve", "--listen", $"0.0.0.0:{port}", "--models", folder.Model, "--data", _data];
        string token;
        using (var first = CliProcess.Start(serve, environment: Environment()))
        {
            await first.WaitForOutputAsync("Ctrl+C stops", TimeSpan.FromSeconds(60));
            token = File.ReadAllText(tokenFile).Trim();
            Assert.Contains($"listening beyond loopback: calls need an API token. Generated one, kept in {tokenFile} (shown only now): {token}", first.Output);

            string[] generate = ["generate", "a red fox", "--server", server, "--width", "64", "--height", "64", "--steps", "1", "--seed", "1",
                "--out", Path.Combine(_data, "out")];
            var (code, output) = await CliProcess.RunAsync(generate, environment: Environment());
            Assert.Equal(2, code);
            Assert.Contains($"the server at {server}/ refused the call: this server requires an API token", output);
            (code, output) = await CliProcess.RunAsync([.. generate], environment: Environment(token));
            Assert.True(code == 0, output);
            (code, output) = await CliProcess.RunAsync(["jobs", "--server", server, "--token-file", tokenFile], environment: Environment());
            Assert.True(code == 0, output);
            Assert.Contains("succeeded", output);
            (code, output) = await CliProcess.RunAsync(["placement", "--server", server, "--token-file", tokenFile], environment: Environment());
            Assert.True(code == 0, output);
            (code, output) = await CliProcess.RunAsync(["placement", "--server", server, "--token-file", Path.Combine(_data, "nothing")], environment: Environment());
            Assert.Equal((2, true), (code, output.Contains($"--token-file: '{Path.Combine(_data, "nothing")}' does not exist")));

            first.Signal(CliProcess.SigTerm);
            Assert.Equal(0, await first.WaitForExitAsync(TimeSpan.FromSeconds(20)));
            Assert.Single(Regex.Matches(first.Output, Regex.Escape(token)));
        }

        // The next start reads the same token and does not show it.
        using var second = CliProcess.Start(serve, environment: Environment());
        await second.WaitForOutputAsync("Ctrl+C stops", TimeSpan.FromSeconds(60));
        Assert.Contains($"calls need the API token (API token from {tokenFile}): clients set SD3MESH_TOKEN or pass --token-file", second.Output);
        Assert.Equal(token, File.ReadAllText(tokenFile).Trim());
        Assert.DoesNotContain(token, second.Output);
    }
}
