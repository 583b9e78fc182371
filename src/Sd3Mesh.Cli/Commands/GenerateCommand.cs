using System.CommandLine;
using Sd3Mesh.Models;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Server.Jobs;
using Sd3Mesh.Tensors;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh generate "PROMPT" [options]`: a whole SD3 job in this process (see README "Generate an image"),
/// or, with --server URL, on an sd3mesh server through <see cref="RemoteGenerate"/> (same options).
/// Without --models, the tiny seeded models are created once in the model cache and used.
/// </summary>
public static class GenerateCommand
{
    public const string DefaultPreset = JobExecutors.DefaultPreset;
    public const ulong DefaultWeightSeed = JobExecutors.DefaultWeightSeed;

    public static Command Create()
    {
        var options = new GenerateOptions();
        var server = new Option<string?>("--server") { Description = $"Generate on this sd3mesh server (e.g. {ServerChannel.DefaultAddress}) instead of in this process" };
        var command = new Command("generate", "Generate images with SD3 (text-to-image, image-to-image), in this process or on a server (--server)");
        options.AddTo(command);
        command.Options.Add(server);
        command.SetAction((parse, ct) =>
        {
            var values = options.Read(parse);
            var console = AnsiConsole.Console;
            return parse.GetValue(server) is { } address
                ? RunRemoteAsync(console, values, address, ct)
                : GenerateRunner.RunAsync(console, values, () => Load(console, values.Models, values.Device), ct);
        });
        return command;
    }

    private static async Task<int> RunRemoteAsync(IAnsiConsole console, GenerateOptions.Values values, string address, CancellationToken ct)
    {
        Uri url;
        Sd3Mesh.Protos.V1.GenerateRequest request;
        try
        {
            url = ServerChannel.Parse(address);
            request = RemoteGenerate.BuildRequest(values);
        }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException)
        {
            console.MarkupLine($"[red]{Markup.Escape(e.Message)}[/]");
            return GenerateRunner.InvalidOptions;
        }
        return await RemoteGenerate.RunAsync(request, url, new DirectoryInfo(values.Out), console, ct);
    }

    /// <summary>Opens <paramref name="models"/>, or the cached tiny models (created on first use).</summary>
    public static LoadedModel Load(IAnsiConsole console, string? models, string device)
    {
        var directory = models ?? EnsureDefaultModels(console, DefaultPreset, DType.Float32, DefaultWeightSeed);
        var model = OnnxSd3Model.Open(directory, Onnx.Device.Parse(device));
        string description = $"{model.Components.ModelName} on {device}";
        if (model.Repository.Manifest is { Source: "random" })
            description += " (random weights: the images are noise)";
        return new LoadedModel(model.Components, description, model, model.Clock);
    }

    /// <summary>The cached seeded model folder for a preset, written once with a progress line.</summary>
    public static string EnsureDefaultModels(IAnsiConsole console, string preset, DType precision, ulong seed)
    {
        string? path = null;
        console.Status().Start($"preparing {preset} {Precision.Name(precision)} models in {ModelZoo.CacheRoot()} (once)", _ =>
            path = ModelZoo.EnsureCached(preset, precision, seed));
        return path!;
    }
}
