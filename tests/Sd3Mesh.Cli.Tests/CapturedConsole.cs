using Spectre.Console;

namespace Sd3Mesh.Cli.Tests;

/// <summary>A plain-text Spectre console (no colour, 200 columns) whose output the test reads.</summary>
internal static class CapturedConsole
{
    public static (IAnsiConsole Console, StringWriter Output) Create()
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = 200;
        return (console, output);
    }
}
