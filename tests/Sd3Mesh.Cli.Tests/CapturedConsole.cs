using Spectre.Console;

namespace Sd3Mesh.Cli.Tests;

/// <summary>A non-interactive console without colours whose output the test reads back.</summary>
internal static class CapturedConsole
{
    public static (IAnsiConsole Console, StringWriter Output) Create(int width = 200)
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = width;
        return (console, output);
    }
}
