using System.CommandLine;

namespace Sd3Mesh.Cli.Commands;

/// <summary>Every top-level `sd3mesh` command, in the order `--help` lists them. One file per command.</summary>
internal static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return DoctorCommand.Create();
        yield return BenchCommand.Create();
        yield return ServeCommand.Create();
        yield return GenerateCommand.Create();
        yield return JobsCommand.Create();
        yield return ClusterCommand.Create();
        yield return SiloCommand.Create();
        yield return PlacementCommand.Create();
        yield return ModelsCommand.Create();
    }
}
