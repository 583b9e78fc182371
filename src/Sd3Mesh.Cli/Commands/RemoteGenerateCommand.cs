using System.CommandLine;
using Sd3Mesh.Protos.V1;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// A temporary `sd3mesh generate` with generate's options (<see cref="GenerateOptions"/>) that only runs
/// on a server (--server). The local GenerateCommand replaces it and, when --server is given, calls
/// <see cref="RemoteGenerate.BuildRequest"/> and <see cref="RemoteGenerate.RunAsync"/> as this does.
/// </summary>
public static class RemoteGenerateCommand
{
    public static Command Create()
    {
        var options = new GenerateOptions();
        var server = new Option<string?>("--server") { Description = $"Run on this sd3mesh server, e.g. {ServerChannel.DefaultAddress} (required in this build)" };
        var command = new Command("generate", "Generate images with SD3 on an sd3mesh server (--server URL)");
        options.AddTo(command);
        command.Options.Add(server);
        command.SetAction(async (parse, ct) =>
        {
            var console = AnsiConsole.Console;
            if (parse.GetValue(server) is not { } address)
            {
                console.MarkupLine("[red]this build of sd3mesh generates only on a server: pass --server URL (see `sd3mesh serve`)[/]");
                return 2;
            }
            var values = options.Read(parse);
            Uri url;
            GenerateRequest request;
            try
            {
                url = ServerChannel.Parse(address);
                request = RemoteGenerate.BuildRequest(values);
            }
            catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException)
            {
                console.MarkupLine($"[red]{Markup.Escape(e.Message)}[/]");
                return 2;
            }
            return await RemoteGenerate.RunAsync(request, url, new DirectoryInfo(values.Out), console, ct);
        });
        return command;
    }
}
