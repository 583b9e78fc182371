using System.CommandLine;
using Sd3Mesh.Cli.Commands;

var root = new RootCommand("Sd3Mesh: Stable Diffusion 3 across several devices.");
foreach (var command in CommandCatalog.All())
    root.Subcommands.Add(command);
return await root.Parse(args).InvokeAsync();
