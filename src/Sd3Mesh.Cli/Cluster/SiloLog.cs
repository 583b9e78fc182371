using Spectre.Console;

namespace Sd3Mesh.Cli.Cluster;

/// <summary>
/// A silo's log file (`silo --log FILE`): everything the process writes through .NET, its log and its own lines, goes
/// there, appended, each run under a header; written by the silo itself, so nothing is lost when its supervisor dies.
/// </summary>
internal static class SiloLog
{
    /// <summary>Sends stdout and stderr to <paramref name="path"/> and returns a console on it; IOException when it cannot be opened.</summary>
    public static IAnsiConsole Redirect(string path, string silo)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        var file = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        var writer = TextWriter.Synchronized(file);
        // The console logger takes Console.Out when the host builds it, after this.
        Console.SetOut(writer);
        Console.SetError(writer);
        writer.WriteLine($"---- silo {silo}, pid {Environment.ProcessId}, {DateTime.Now:yyyy-MM-dd HH:mm:ss} ----");
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No,
        });
        console.Profile.Width = 400; // a log's lines are not wrapped at an assumed 80 columns
        return console;
    }

    /// <summary>The last <paramref name="count"/> lines of a log, each cut to <paramref name="length"/> characters (a stack trace is one long line).</summary>
    public static IReadOnlyList<string> Tail(string path, int count = 10, int length = 400)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var lines = new Queue<string>();
            using var reader = new StreamReader(stream);
            while (reader.ReadLine() is { } line)
            {
                lines.Enqueue(line.Length <= length ? line : line[..length] + " …");
                if (lines.Count > count) lines.Dequeue();
            }
            return [.. lines];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
