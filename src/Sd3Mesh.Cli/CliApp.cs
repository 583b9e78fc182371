using System.CommandLine;
using System.CommandLine.Help;
using Sd3Mesh.Cli.Commands;
using Sd3Mesh.Models;
using Sd3Mesh.Onnx;
using Spectre.Console;

namespace Sd3Mesh.Cli;

/// <summary>
/// The `sd3mesh` command line: parses, reports parse errors in one short message (exit 2), runs the
/// command with SIGINT/SIGTERM as its cancellation token, and turns whatever escapes a command into one
/// line and an exit code of <see cref="ExitCodes"/> (no stack traces; SD3MESH_DEBUG=1 shows them).
/// </summary>
public static class CliApp
{
    public static RootCommand CreateRoot()
    {
        var root = new RootCommand("Sd3Mesh: Stable Diffusion 3 across several devices.");
        foreach (var command in CommandCatalog.All())
            root.Subcommands.Add(command);
        return root;
    }

    public static async Task<int> RunAsync(string[] args)
    {
        var root = CreateRoot();
        if (args.Length == 0)
        {
            await root.Parse("--help").InvokeAsync();
            return ExitCodes.Usage;
        }
        var parse = root.Parse(args);
        var console = AnsiConsole.Console;
        // Piped into a log or a test, lines should not wrap at an assumed 80 columns (long paths, error messages).
        if (Console.IsOutputRedirected) console.Profile.Width = 400;
        if (parse.Errors.Count > 0 && parse.Action is not HelpAction)
        {
            foreach (var error in parse.Errors) console.MarkupLine($"[red]error:[/] {Markup.Escape(error.Message)}");
            var path = CommandPath(parse.CommandResult.Command);
            console.MarkupLine(Markup.Escape($"see 'sd3mesh {(path.Length == 0 ? "" : path + " ")}--help' for the options"));
            return ExitCodes.Usage;
        }

        using var interrupt = new InterruptSignals();
        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false }, interrupt.Token);
        }
        catch (Exception e)
        {
            return Report(console, e, interrupt.Token);
        }
    }

    /// <summary>An exception that escaped a command: one line, and the exit code the rule gives it.</summary>
    public static int Report(IAnsiConsole console, Exception e, CancellationToken interrupted = default)
    {
        int code;
        switch (e)
        {
            case OperationCanceledException when interrupted.IsCancellationRequested:
                console.MarkupLine("[yellow]interrupted[/]");
                return ExitCodes.Interrupted;
            case DeviceUnavailableException:
                console.MarkupLine($"[red]error:[/] {Markup.Escape(e.Message)}");
                code = ExitCodes.Usage;
                break;
            case ModelFormatException or FormatException or ArgumentException or FileNotFoundException or DirectoryNotFoundException:
                console.MarkupLine($"[red]error:[/] {Markup.Escape(e.Message)}");
                code = ExitCodes.Usage;
                break;
            default:
                console.MarkupLine($"[red]error:[/] {Markup.Escape(e.Message)} ({Markup.Escape(e.GetType().Name)})");
                code = ExitCodes.Failed;
                break;
        }
        if (Environment.GetEnvironmentVariable("SD3MESH_DEBUG") == "1") console.WriteException(e);
        return code;
    }

    private static string CommandPath(Command command)
    {
        var names = new List<string>();
        for (Command? c = command; c is not null and not RootCommand; c = c.Parents.OfType<Command>().FirstOrDefault())
            names.Insert(0, c.Name);
        return string.Join(' ', names);
    }
}
