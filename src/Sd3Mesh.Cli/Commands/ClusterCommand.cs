using System.CommandLine;

namespace Sd3Mesh.Cli.Commands;

/// <summary>`sd3mesh cluster up`: a cluster of silo processes on this machine, from a cluster config.</summary>
public static class ClusterCommand
{
    public static Command Create()
    {
        var command = new Command("cluster", "Run a cluster of silos on this machine from a cluster config (cluster/*.json)");
        command.Subcommands.Add(ClusterUpCommand.Create());
        return command;
    }
}
