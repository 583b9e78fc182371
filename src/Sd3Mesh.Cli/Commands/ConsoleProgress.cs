using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// Progress for long work: live bars on an interactive terminal; on a redirected one (logs, GPU-host
/// batches) one line per finished task instead of half-drawn bars.
/// </summary>
internal static class ConsoleProgress
{
    /// <summary>Runs <paramref name="work"/>(i, step) for each task i; step() advances task i by one of its steps.</summary>
    public static void Run(IAnsiConsole console, IReadOnlyList<(string Name, int Steps)> tasks, Action<int, Action> work) =>
        RunAsync(console, tasks, (i, step) =>
        {
            work(i, step);
            return Task.CompletedTask;
        }).GetAwaiter().GetResult();

    /// <summary>As <see cref="Run"/>, for asynchronous work: <paramref name="work"/>(i, step) runs task i.</summary>
    public static async Task RunAsync(IAnsiConsole console, IReadOnlyList<(string Name, int Steps)> tasks, Func<int, Action, Task> work)
    {
        if (!console.Profile.Capabilities.Interactive)
        {
            for (int i = 0; i < tasks.Count; i++)
            {
                var started = DateTime.UtcNow;
                await work(i, static () => { });
                console.MarkupLine(Markup.Escape($"done: {tasks[i].Name} ({(DateTime.UtcNow - started).TotalSeconds:F1} s)"));
            }
            return;
        }
        await console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var bars = tasks.Select(t => context.AddTask(Markup.Escape(t.Name), maxValue: Math.Max(1, t.Steps))).ToList();
                for (int i = 0; i < tasks.Count; i++)
                {
                    var bar = bars[i];
                    await work(i, () => bar.Increment(1));
                    bar.Value = bar.MaxValue;
                }
            });
    }
}
