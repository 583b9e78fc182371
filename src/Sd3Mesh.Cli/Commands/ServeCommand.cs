using System.CommandLine;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Sd3Mesh.Server;
using Sd3Mesh.Server.Cluster;
using Sd3Mesh.Server.Jobs;
using Sd3Mesh.Tensors;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh serve --listen 127.0.0.1:50051 [--models DIR] [--device cpu|cpu:N|cuda:N] [--tls-cert PFX]`:
/// a single silo that runs SD3 jobs with the one-process pipeline (the cached tiny models without
/// --models), serving the public API (Generation, Cluster), the grain transport, health and reflection
/// until Ctrl+C, then a graceful stop (queued and running jobs cancelled, open calls drained).
/// </summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var listen = new Option<string>("--listen") { Description = "HOST:PORT to listen on (0.0.0.0:PORT for every interface)", DefaultValueFactory = _ => "127.0.0.1:50051" };
        var models = new Option<DirectoryInfo?>("--models") { Description = "SD3 ONNX model folder (optimum layout). Default: tiny random-weight models, created once in ~/.cache/sd3mesh/models" };
        var device = new Option<string>("--device") { Description = "Where the submodules run: cpu, cpu:N, cuda:N", DefaultValueFactory = _ => "cpu" };
        var tlsCert = new Option<FileInfo?>("--tls-cert") { Description = "Serve TLS with this PKCS#12 (.pfx) certificate and key" };
        var tlsPassword = new Option<string?>("--tls-password") { Description = "Password of the --tls-cert file" };
        var command = new Command("serve", "Run an sd3mesh server that generates SD3 images (gRPC: Generation, Cluster, Health, Reflection)");
        command.Options.Add(listen);
        command.Options.Add(models);
        command.Options.Add(device);
        command.Options.Add(tlsCert);
        command.Options.Add(tlsPassword);
        command.SetAction((parse, ct) => RunAsync(AnsiConsole.Console, parse.GetValue(listen)!, parse.GetValue(models), parse.GetValue(device)!,
            parse.GetValue(tlsCert), parse.GetValue(tlsPassword), ct));
        return command;
    }

    public static async Task<int> RunAsync(IAnsiConsole console, string listen, DirectoryInfo? models, string device, FileInfo? tlsCert,
        string? tlsPassword, CancellationToken cancellationToken)
    {
        PipelineJobExecutor executor;
        X509Certificate2? certificate = null;
        try
        {
            Sd3Mesh.Rpc.GrpcServer.ParseListen(listen);
            if (models is { Exists: false }) throw new ArgumentException($"--models: '{models.FullName}' does not exist");
            if (!Onnx.Device.TryParse(device, out var parsedDevice)) throw new ArgumentException($"--device: unknown device '{device}': expected {Onnx.Device.AcceptedForms}");
            if (tlsCert is not null)
            {
                if (!tlsCert.Exists) throw new ArgumentException($"--tls-cert: '{tlsCert.FullName}' does not exist");
                certificate = X509CertificateLoader.LoadPkcs12FromFile(tlsCert.FullName, tlsPassword);
                if (!certificate.HasPrivateKey) throw new ArgumentException($"--tls-cert: '{tlsCert.FullName}' holds no private key");
            }
            var directory = models?.FullName
                ?? GenerateCommand.EnsureDefaultModels(console, JobExecutors.DefaultPreset, DType.Float32, JobExecutors.DefaultWeightSeed);
            executor = JobExecutors.ForModels(directory, parsedDevice);
        }
        catch (Exception e) when (e is ArgumentException or IOException or InvalidDataException or UnauthorizedAccessException
                                      or System.Security.Cryptography.CryptographicException)
        {
            console.MarkupLine($"[red]{Markup.Escape(e.Message)}[/]");
            return 1;
        }

        using (executor)
        {
            using var logging = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
            var options = new SiloHostOptions { Listen = listen, Certificate = certificate, LoggerFactory = logging };
            await using var host = new SiloHost(executor, options, grains: executor.Grains,
                devices: new ModelDeviceInventory(new CpuDeviceInventory(options.CpuBudgetBytes), executor.Device ?? "cpu"));
            try
            {
                await host.StartAsync(cancellationToken);
            }
            catch (IOException e)
            {
                console.MarkupLine($"[red]cannot listen on {Markup.Escape(listen)}: {Markup.Escape(e.Message)}[/]");
                return 1;
            }
            console.MarkupLine(Markup.Escape($"sd3mesh serving {executor.Pipeline.Components.ModelName} on {executor.Device} at {host.Address} " +
                                             $"(silo {host.Silo.Id}); Ctrl+C stops"));
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
}
