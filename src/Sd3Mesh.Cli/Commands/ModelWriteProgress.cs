using Sd3Mesh.Models;
using Sd3Mesh.Models.Repository;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>Spectre.Console progress bars (bytes of weights written, per submodule) around a repository write.</summary>
public static class ModelWriteProgress
{
    public static void Run(IAnsiConsole console, Action<IProgress<ZooProgress>> write)
    {
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(),
                new RemainingTimeColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<Submodule, ProgressTask>();
                write(new Reporter(p =>
                {
                    if (!tasks.TryGetValue(p.Submodule, out var task))
                        tasks[p.Submodule] = task = ctx.AddTask(p.Submodule.FolderName(), maxValue: Math.Max(1, p.TotalBytes));
                    task.Value = p.BytesWritten;
                }));
                foreach (var t in tasks.Values) t.Value = t.MaxValue;
            });
    }

    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.00} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:0.0} KiB",
        _ => $"{bytes} B",
    };

    private sealed class Reporter(Action<ZooProgress> report) : IProgress<ZooProgress>
    {
        public void Report(ZooProgress value) => report(value);
    }
}
