using System.CommandLine;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Sd3Mesh.Server;
using Sd3Mesh.Server.Jobs;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh serve --listen 127.0.0.1:50051 [--models DIR] [--tls-cert PFX]`: a single silo serving the
/// public API (Generation, Cluster), the grain transport, health and reflection until Ctrl+C, then a
/// graceful stop (queued and running jobs cancelled, open calls drained).
/// </summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var listen = new Option<string>("--listen") { Description = "HOST:PORT to listen on (0.0.0.0:PORT for every interface)", DefaultValueFactory = _ => "127.0.0.1:50051" };
        var models = new Option<DirectoryInfo?>("--models") { Description = "SD3 ONNX model folder" };
        var tlsCert = new Option<FileInfo?>("--tls-cert") { Description = "Serve TLS with this PKCS#12 (.pfx) certificate and key" };
        var tlsPassword = new Option<string?>("--tls-password") { Description = "Password of the --tls-cert file" };
        var command = new Command("serve", "Run an sd3mesh server (gRPC: Generation, Cluster, Health, Reflection)");
        command.Options.Add(listen);
        command.Options.Add(models);
        command.Options.Add(tlsCert);
        command.Options.Add(tlsPassword);
        command.SetAction((parse, ct) => RunAsync(AnsiConsole.Console, parse.GetValue(listen)!, parse.GetValue(models),
            parse.GetValue(tlsCert), parse.GetValue(tlsPassword), ct));
        return command;
    }

    public static async Task<int> RunAsync(IAnsiConsole console, string listen, DirectoryInfo? models, FileInfo? tlsCert,
        string? tlsPassword, CancellationToken cancellationToken)
    {
        IJobExecutor executor;
        X509Certificate2? certificate = null;
        try
        {
            Sd3Mesh.Rpc.GrpcServer.ParseListen(listen);
            if (models is { Exists: false }) throw new ArgumentException($"--models: '{models.FullName}' does not exist");
            if (tlsCert is not null)
            {
                if (!tlsCert.Exists) throw new ArgumentException($"--tls-cert: '{tlsCert.FullName}' does not exist");
                certificate = X509CertificateLoader.LoadPkcs12FromFile(tlsCert.FullName, tlsPassword);
                if (!certificate.HasPrivateKey) throw new ArgumentException($"--tls-cert: '{tlsCert.FullName}' holds no private key");
            }
            executor = JobExecutors.ForModels(models?.FullName);
        }
        catch (Exception e) when (e is ArgumentException or PipelineUnavailableException or System.Security.Cryptography.CryptographicException)
        {
            console.MarkupLine($"[red]{Markup.Escape(e.Message)}[/]");
            return 1;
        }

        using var logging = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
        await using var host = new SiloHost(executor, new SiloHostOptions { Listen = listen, Certificate = certificate, LoggerFactory = logging });
        try
        {
            await host.StartAsync(cancellationToken);
        }
        catch (IOException e)
        {
            console.MarkupLine($"[red]cannot listen on {Markup.Escape(listen)}: {Markup.Escape(e.Message)}[/]");
            return 1;
        }
        console.MarkupLine(Markup.Escape($"sd3mesh serving on {host.Address} (silo {host.Silo.Id}); Ctrl+C stops"));
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException) { }
        console.MarkupLine("stopping: cancelling jobs, draining calls");
        await host.StopAsync();
        return 0;
    }
}
