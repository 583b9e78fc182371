using Sd3Mesh.Runtime.Hosting;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Pipeline.Onnx;
using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sd3Mesh.Onnx;
using Sd3Mesh.Server;
using Sd3Mesh.Server.Cluster;
using Sd3Mesh.Server.Grpc;
using Sd3Mesh.Server.Jobs;
using Sd3Mesh.Server.Security;
using Sd3Mesh.Server.Jobs.Storage;
using Sd3Mesh.Tensors;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh serve --listen 127.0.0.1:50051 [--http HOST:PORT|none] [--models DIR] [--device D] [--tls-cert PFX]
/// [--data DIR] [--postgres CONNSTR] [--checkpoint-every N]`:
/// one silo (a Generic Host, see <see cref="SiloHost"/>) of a one-silo cluster that runs SD3 jobs on its grains
/// (the cached tiny models without --models), serving the public API (Generation, Cluster), health and
/// reflection, and on its web endpoint (127.0.0.1:8080 by default) the dashboard, /metrics and the Orleans dashboard,
/// until Ctrl+C, SIGINT or SIGTERM; then a graceful stop bounded by
/// <see cref="GrpcServerOptions.DrainTimeout"/> (Generate calls' jobs cancelled, submitted jobs kept, open calls
/// drained) and exit 0. Jobs are kept in the data folder (SQLite, and the result files) or in PostgreSQL: a
/// restarted server on the same store lists them, runs the queued ones and resumes the running ones.
/// </summary>
public static class ServeCommand
{
    public const string DefaultListen = "127.0.0.1:50051";
    public const string DefaultHttp = "127.0.0.1:8080";

    /// <param name="HttpListen">the web endpoint; null: none</param>
    /// <param name="HttpFallback">the web endpoint is the default one: a free port instead if it is taken</param>
    /// <param name="Data">the data folder; null: <see cref="StoreSpec.DefaultDataFolder"/>("serve")</param>
    public sealed record Settings(string Listen, DirectoryInfo? Models = null, Device? Device = null, FileInfo? TlsCert = null,
        string? TlsPassword = null, string? HttpListen = null, DirectoryInfo? Data = null, string? Postgres = null,
        int CheckpointEvery = StoreSpec.DefaultCheckpointEvery, bool HttpFallback = false);

    public static Command Create()
    {
        var listen = new Option<string>("--listen") { Description = "HOST:PORT of the gRPC endpoint (0.0.0.0:PORT for every interface)", DefaultValueFactory = _ => DefaultListen };
        var http = new Option<string>("--http")
        {
            Description = "HOST:PORT of the web endpoint (HTTP/1.1): the dashboard at /, /metrics, the Orleans dashboard at /orleans, /healthz; " +
                          "'none' for no web endpoint (0.0.0.0:PORT for every interface)",
            DefaultValueFactory = _ => DefaultHttp,
        };
        var models = new Option<DirectoryInfo?>("--models") { Description = "SD3 ONNX model folder (optimum layout). Default: tiny random-weight models, created once in ~/.cache/sd3mesh/models" };
        var device = CliOptions.Device("--device", $"Where the submodules run: {Device.AcceptedForms} (default cpu)");
        var tlsCert = new Option<FileInfo?>("--tls-cert") { Description = "Serve TLS with this PKCS#12 (.pfx) certificate and key" };
        var tlsPassword = new Option<string?>("--tls-password") { Description = "Password of the --tls-cert file" };
        var data = new Option<DirectoryInfo?>("--data") { Description = $"Data folder: the job store (SQLite jobs.db) and result files. Default {StoreSpec.DefaultDataFolder("serve")}" };
        var postgres = new Option<string?>("--postgres") { Description = "Keep jobs in PostgreSQL instead of SQLite: an Npgsql connection string (Host=...;Database=...;Username=...)" };
        var checkpoints = CliOptions.WholeNumber("--checkpoint-every", $"Save a running job's latents every N steps, to resume there after a crash (0: never; default {StoreSpec.DefaultCheckpointEvery})");
        var command = new Command("serve", "Run an sd3mesh server that generates SD3 images (gRPC: Generation, Cluster, Health, Reflection)");
        foreach (var option in new Option[] { listen, http, models, device, tlsCert, tlsPassword, data, postgres, checkpoints }) command.Options.Add(option);
        command.SetAction((parse, ct) => RunAsync(AnsiConsole.Console, new Settings(parse.GetValue(listen)!, parse.GetValue(models),
            parse.GetValue(device), parse.GetValue(tlsCert), parse.GetValue(tlsPassword), WebEndpoint(parse.GetValue(http)), parse.GetValue(data),
            parse.GetValue(postgres), (int)Math.Min(parse.GetValue(checkpoints) ?? StoreSpec.DefaultCheckpointEvery, int.MaxValue),
            HttpFallback: parse.GetResult(http) is not { Implicit: false }), ct));
        return command;
    }

    public static async Task<int> RunAsync(IAnsiConsole console, Settings settings, CancellationToken cancellationToken)
    {
        var device = settings.Device ?? Device.Cpu;
        X509Certificate2? certificate;
        ApiToken? token;
        try
        {
            certificate = CheckOptions(settings);
            token = ApiToken.Resolve(new[] { settings.Listen, settings.HttpListen }.OfType<string>().Select(ListenAddress.Parse),
                Environment.GetEnvironmentVariable(ApiToken.Variable), DataFolder(settings));
        }
        catch (Exception e) when (e is ArgumentException or IOException or CryptographicException or UnauthorizedAccessException)
        {
            console.MarkupLine($"[red]{Markup.Escape(e.Message)}[/]");
            return ExitCodes.Usage;
        }

        // The default web address taken (another server, another dashboard): a free port, named at start. An address
        // given with --http is used as given, or the start fails naming it.
        if (settings is { HttpFallback: true, HttpListen: { } web } && !CanBind(ListenAddress.Parse(web)))
        {
            console.MarkupLine($"[yellow]{Markup.Escape($"{web} is in use: the web endpoint takes a free port (--http HOST:PORT chooses one)")}[/]");
            settings = settings with { HttpListen = $"{ListenAddress.Parse(web).Address}:0" };
        }

        Sd3ModelFolder folder;
        try
        {
            var directory = settings.Models?.FullName
                ?? GenerateCommand.EnsureDefaultModels(console, JobExecutors.DefaultPreset, DType.Float32, JobExecutors.DefaultWeightSeed);
            CudaSupport.EnsureUsable(device);
            folder = Sd3ModelFolder.Open(directory);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException or DeviceUnavailableException)
        {
            console.MarkupLine($"[red]{Markup.Escape(e.Message)}[/]");
            return ExitCodes.Usage;
        }

        // One silo of a one-silo cluster: the same grains and coordinator as `cluster up`, every submodule on --device.
        var config = EmbeddedCluster.Config(new ModelSpec(folder.Repository.Directory, null), device) with
        {
            Store = new StoreSpec(DataFolder(settings), settings.Postgres, settings.CheckpointEvery),
        };
        var options = new SiloHostOptions
        {
            HttpListen = settings.HttpListen,
            Certificate = certificate,
            ApiToken = token,
            // Orleans notes at start that a silo would rather have server GC: the CLI keeps the workstation GC on purpose.
            Logging = logging => logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning).AddFilter("Orleans.Runtime.Silo", LogLevel.Error),
        };
        await using var host = ClusterSilo.Create(config, config.Primary.Name, options, new SiloRuntimeOptions { Folder = folder },
            listen: settings.Listen);
        try
        {
            await host.StartAsync(cancellationToken);
        }
        catch (JobStoreException e)
        {
            console.MarkupLine($"[red]{Markup.Escape($"job store: {e.Message}")}[/]");
            return ExitCodes.Failed;
        }
        catch (IOException e)
        {
            console.MarkupLine($"[red]cannot listen on {Markup.Escape(settings.Listen)}{(settings.HttpListen is null ? "" : " and " + Markup.Escape(settings.HttpListen) + " (--http: another address, or none)")}: {Markup.Escape(e.Message)}[/]");
            return ExitCodes.Failed;
        }
        if (host.Jobs.Store.Journal is { } journal)
            console.MarkupLine(Markup.Escape($"jobs kept in {journal.Description}, results in {config.Store.DataFolder}" +
                                             $" ({host.Jobs.Store.Count} from earlier runs)"));
        if (host.DashboardAddress is { } dashboard)
            console.MarkupLine(Markup.Escape($"dashboard at {dashboard} (Orleans dashboard at {ClusterSilo.OrleansDashboardPath}/, Prometheus metrics at /metrics)"));
        ShowToken(console, token);
        // Last: scripts and tests wait for this line, and everything above is printed by then.
        console.MarkupLine(Markup.Escape($"sd3mesh serving {folder.Name} on {DeviceNames.Of(device)} at {host.Address} " +
                                         $"(silo {host.Silo.Id}, a one-silo cluster); Ctrl+C stops"));
        host.App.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(() =>
            console.MarkupLine(Markup.Escape($"stopping: cancelling jobs of open Generate calls, keeping submitted jobs for the next start, " +
                                             $"draining calls (at most {options.DrainTimeout.TotalSeconds:F0} s)")));
        await host.WaitForShutdownAsync(cancellationToken);
        console.MarkupLine("stopped");
        return ExitCodes.Ok;
    }

    private static bool CanBind(System.Net.IPEndPoint endpoint)
    {
        try
        {
            var listener = new System.Net.Sockets.TcpListener(endpoint);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    /// <summary>--http's value: null for 'none' (no web endpoint).</summary>
    public static string? WebEndpoint(string? http) => http is null || http.Equals("none", StringComparison.OrdinalIgnoreCase) ? null : http;

    /// <summary>The data folder: the job store, the result files, the API token a server generated.</summary>
    private static string DataFolder(Settings settings) => settings.Data?.FullName ?? StoreSpec.DefaultDataFolder("serve");

    /// <summary>
    /// What a server's clients need to know about its API token: a token generated by this start is shown this once (it
    /// is in the data folder from now on); otherwise only where it comes from.
    /// </summary>
    public static void ShowToken(IAnsiConsole console, ApiToken? token)
    {
        if (token is null) return;
        console.MarkupLine(Markup.Escape(token.Generated
            ? $"listening beyond loopback: calls need an API token. Generated one, kept in {token.Source} (shown only now): {token.Value}"
            : $"calls need the API token ({token}): clients set {ApiToken.Variable} or pass --token-file"));
    }

    /// <summary>Every option checked before anything is loaded; the TLS certificate when there is one.</summary>
    private static X509Certificate2? CheckOptions(Settings settings)
    {
        ListenAddress.Parse(settings.Listen);
        if (settings.HttpListen is { } http)
        {
            var pages = ListenAddress.Parse(http);
            if (pages.Equals(ListenAddress.Parse(settings.Listen)) && pages.Port != 0)
                throw new ArgumentException($"--http: {http} is the gRPC endpoint's address; HTTP/1.1 pages need a port of their own");
        }
        if (settings.Models is { Exists: false } models) throw new ArgumentException($"--models: '{models.FullName}' does not exist");
        if (settings.CheckpointEvery is < 0 or > StoreSpec.MaxCheckpointEvery)
            throw new ArgumentException($"--checkpoint-every: {settings.CheckpointEvery} is outside 0..{StoreSpec.MaxCheckpointEvery} (0: no checkpoints)");
        if (settings.Postgres is { } postgres && string.IsNullOrWhiteSpace(postgres))
            throw new ArgumentException("--postgres: empty; give a connection string such as \"Host=db;Database=sd3mesh;Username=sd3mesh\"");
        if (settings.TlsCert is not { } tlsCert) return null;
        if (!tlsCert.Exists) throw new ArgumentException($"--tls-cert: '{tlsCert.FullName}' does not exist");
        var certificate = X509CertificateLoader.LoadPkcs12FromFile(tlsCert.FullName, settings.TlsPassword);
        if (!certificate.HasPrivateKey) throw new ArgumentException($"--tls-cert: '{tlsCert.FullName}' holds no private key");
        return certificate;
    }
}
