using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// Progress for long work: live bars on an interactive terminal; on a redirected one (logs, GPU-host
/// batches) one line per finished task instead of half-drawn bars.
/// </summary>
internal static class ConsoleProgress
{
    /// <summary>Runs <paramref name="work"/>(i, step) for each task i; step() advances task i by one of its steps.</summary>
    public static void Run(IAnsiConsole console, IReadOnlyList<(string Name, int Steps)> tasks, Action<int, Action> work)
    {
        if (!console.Profile.Capabilities.Interactive)
        {
            for (int i = 0; i < tasks.Count; i++)
            {
                var started = DateTime.UtcNow;
                work(i, static () => { });
                console.MarkupLine(Markup.Escape($"done: {tasks[i].Name} ({(DateTime.UtcNow - started).TotalSeconds:F1} s)"));
            }
            return;
        }
        console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(context =>
            {
                var bars = tasks.Select(t => context.AddTask(Markup.Escape(t.Name), maxValue: Math.Max(1, t.Steps))).ToList();
                for (int i = 0; i < tasks.Count; i++)
                {
                    var bar = bars[i];
                    work(i, () => bar.Increment(1));
                    bar.Value = bar.MaxValue;
                }
            });
    }
}
