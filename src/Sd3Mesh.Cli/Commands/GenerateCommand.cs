using System.CommandLine;
using Sd3Mesh.Models;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Server;
using Sd3Mesh.Server.Jobs;
using Sd3Mesh.Tensors;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh generate "PROMPT" [options]`: a whole SD3 job in this process (see README "Generate an image"),
/// or, with --server URL, on an sd3mesh server through <see cref="RemoteGenerate"/>. Both paths build the
/// same GenerateRequest from the options. Without --models, the tiny seeded models are created once in the
/// model cache and used.
/// </summary>
public static class GenerateCommand
{
    public const string DefaultPreset = JobExecutors.DefaultPreset;
    public const ulong DefaultWeightSeed = JobExecutors.DefaultWeightSeed;

    public static Command Create()
    {
        var options = new GenerateOptions();
        var server = new Option<string?>("--server") { Description = $"Generate on this sd3mesh server (e.g. {ServerChannel.DefaultAddress}) instead of in this process" };
        var tokenFile = CliOptions.TokenFile();
        var command = new Command("generate", "Generate images with SD3 (text-to-image, image-to-image), in this process or on a server (--server)");
        options.AddTo(command);
        command.Options.Add(server);
        command.Options.Add(tokenFile);
        command.SetAction((parse, ct) =>
        {
            var values = options.Read(parse);
            var console = AnsiConsole.Console;
            return parse.GetValue(server) is { } address
                ? RemoteGenerate.RunAsync(console, values, address, ct, parse.GetValue(tokenFile))
                : GenerateRunner.RunAsync(console, values, () => Load(console, values.Models, values.Device ?? Device.Cpu), ct);
        });
        return command;
    }

    /// <summary>
    /// Opens <paramref name="models"/> (or the cached tiny models, created on first use) in a one-silo cluster in this
    /// process: the job runs on its grains, as on a server.
    /// </summary>
    public static LoadedModel Load(IAnsiConsole console, string? models, Device device)
    {
        var directory = models ?? EnsureDefaultModels(console, DefaultPreset, DType.Float32, DefaultWeightSeed);
        CudaSupport.EnsureUsable(device);
        var silo = EmbeddedSilo.StartAsync(directory, device).GetAwaiter().GetResult();
        string description = $"{silo.Folder.Name} on {Server.Cluster.DeviceNames.Of(device)} (one-silo cluster in this process)";
        if (silo.Folder.Repository.Manifest is { Source: "random" })
            description += " (random weights: the images are noise)";
        return new LoadedModel(silo.Pipeline.Components, description, silo);
    }

    /// <summary>
    /// The cached seeded model folder for a preset; when it has to be written (the first time only), a line
    /// says so. A cached folder is used without a word.
    /// </summary>
    public static string EnsureDefaultModels(IAnsiConsole console, string preset, DType precision, ulong seed)
    {
        var announcement = new CreationAnnouncement(console, $"preparing {preset} {Precision.Name(precision)} models in {ModelZoo.CacheRoot()} (once)");
        return ModelZoo.EnsureCached(preset, precision, seed, announcement);
    }

    /// <summary>Says once, at the first progress report (which only a creation sends), that models are being written.</summary>
    private sealed class CreationAnnouncement(IAnsiConsole console, string line) : IProgress<ZooProgress>
    {
        private int _announced;

        public void Report(ZooProgress value)
        {
            if (Interlocked.Exchange(ref _announced, 1) == 0) console.MarkupLine(Markup.Escape(line));
        }
    }
}
