using Sd3Mesh.Cli;

return await CliApp.RunAsync(args);
