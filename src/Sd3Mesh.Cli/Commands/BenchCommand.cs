using System.CommandLine;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh bench SUBCOMMAND`: speed measurements that run unattended (also on GPU hosts without .NET)
/// and print a table. Each subcommand is one class with a static Create(); add it to <see cref="Subcommands"/>.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Measure speed (prints a table; see docs/benchmarks.md)");
        foreach (var subcommand in Subcommands()) bench.Subcommands.Add(subcommand);
        return bench;
    }

    private static IEnumerable<Command> Subcommands()
    {
        yield return BenchOrtCommand.Create();
        yield return BenchPipelineCommand.Create();
        yield return BenchClusterCommand.Create();
        yield return BenchRpcCommand.Create();
        foreach (var subcommand in BenchDashboardCommand.Subcommands()) yield return subcommand;
        foreach (var subcommand in BenchModelsCommand.Subcommands()) yield return subcommand;
    }
}
