using System.Net;
using System.Net.Http.Headers;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Reflection.V1;
using Microsoft.Extensions.Logging;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Grpc;
using Sd3Mesh.Server.Security;

namespace Sd3Mesh.Server.Tests;

/// <summary>Every log line a host writes, at every level, kept in memory.</summary>
public sealed class CapturedLog : ILoggerProvider
{
    private readonly List<string> _lines = [];
    public string Text { get { lock (_lines) return string.Join('\n', _lines); } }
    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);
    public void Dispose() { }

    private sealed class Logger(CapturedLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (log._lines) log._lines.Add($"{logLevel} {category}: {formatter(state, exception)} {exception}");
        }
    }
}

public sealed class ApiTokenTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "sd3mesh-data-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        try { Directory.Delete(_data, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static IPEndPoint[] At(params string[] endpoints) => [.. endpoints.Select(ListenAddress.Parse)];

    [Fact]
    public void A_server_on_loopback_needs_no_token_one_beyond_it_generates_one_once_and_a_configured_one_always_applies()
    {
        Assert.Null(ApiToken.Resolve(At("127.0.0.1:50051", "127.0.0.2:8080"), null, _data));
        Assert.False(Directory.Exists(_data));

        var first = ApiToken.Resolve(At("127.0.0.1:50051", "0.0.0.0:8080"), "", _data)!;
        Assert.True(first.Generated);
        var file = Path.Combine(_data, "api-token");
        Assert.Equal((file, 43), (first.Source, first.Value.Length)); // 32 random bytes, base64url
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file)); // its owner only
        Assert.Equal($"API token from {file}", first.ToString());

        var again = ApiToken.Resolve(At("10.1.2.3:50051"), null, _data)!;
        Assert.Equal((first.Value, false), (again.Value, again.Generated));
        Assert.True(again.Matches(first.Value));
        Assert.False(again.Matches(first.Value[..^1]));

        var configured = ApiToken.Resolve(At("127.0.0.1:50051"), "a-configured-token-0123", _data)!;
        Assert.Equal(("a-configured-token-0123", "SD3MESH_TOKEN", false), (configured.Value, configured.Source, configured.Generated));
        var e = Assert.Throws<ArgumentException>(() => ApiToken.Resolve(At("127.0.0.1:1"), "short", _data));
        Assert.Equal("SD3MESH_TOKEN: an API token is 16..256 printable ASCII characters without spaces (this one has 5 characters)", e.Message);
    }

    [Fact]
    public async Task Beyond_loopback_calls_and_pages_without_the_token_are_refused_health_stays_open_and_no_log_line_holds_a_token()
    {
        var log = new CapturedLog();
        var token = ApiToken.Resolve(At("0.0.0.0:0"), null, _data)!;
        var options = new SiloHostOptions
        {
            Listen = "0.0.0.0:0", HttpListen = "0.0.0.0:0", ApiToken = token,
            Logging = logging => logging.AddProvider(log).SetMinimumLevel(LogLevel.Trace),
        };
        await using var host = new SiloHost(new ScriptedExecutor(), options);
        await host.StartAsync();
        const string wrong = "not-the-token-but-long-enough";

        using (var anonymous = GrpcChannels.Create(host.Address))
        using (var impostor = GrpcChannels.Create(host.Address, bearerToken: wrong))
        {
            foreach (var channel in new[] { anonymous, impostor })
            {
                var e = await Assert.ThrowsAsync<RpcException>(() => new Protos.V1.Generation.GenerationClient(channel).SubmitAsync(TestSilo.Request()).ResponseAsync);
                Assert.Equal((StatusCode.Unauthenticated, ApiTokenCheck.Refusal), (e.StatusCode, e.Status.Detail));
                e = await Assert.ThrowsAsync<RpcException>(() => new Protos.V1.Cluster.ClusterClient(channel).ListSilosAsync(new ListSilosRequest()).ResponseAsync);
                Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
                using var reflection = new ServerReflection.ServerReflectionClient(channel).ServerReflectionInfo();
                e = await Assert.ThrowsAsync<RpcException>(async () =>
                {
                    await reflection.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
                    await reflection.ResponseStream.MoveNext();
                });
                Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
                // Probes carry no token: health answers anyone.
                Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest())).Status);
            }
        }
        using (var client = GrpcChannels.Create(host.Address, bearerToken: token.Value))
        {
            var events = await new GenerationTestClient(client).GenerateAsync(TestSilo.Request());
            Assert.Equal(JobEvent.EventOneofCase.Finished, events[^1].EventCase);
            Assert.Single((await new Protos.V1.Cluster.ClusterClient(client).ListSilosAsync(new ListSilosRequest())).Silos);
        }

        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(host.HttpAddress!, "/healthz"))).StatusCode);
        var page = await http.GetAsync(host.HttpAddress);
        Assert.Equal((HttpStatusCode.Unauthorized, "Bearer"), (page.StatusCode, page.Headers.WwwAuthenticate.Single().Scheme));
        using var authorized = new HttpRequestMessage(HttpMethod.Get, host.HttpAddress) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", token.Value) } };
        var dashboard = await http.SendAsync(authorized); // let through: the dashboard
        Assert.Equal((HttpStatusCode.OK, "text/html"), (dashboard.StatusCode, dashboard.Content.Headers.ContentType?.MediaType));

        await host.StopAsync();
        Assert.Contains("Request starting HTTP/2 POST", log.Text); // the log saw every request, at every level
        Assert.DoesNotContain(token.Value, log.Text);
        Assert.DoesNotContain(wrong, log.Text);
    }
}
