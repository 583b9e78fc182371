using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Sd3Mesh.Models;
using Sd3Mesh.Models.Repository;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh bench create`: time and peak memory (VmHWM) to write a seeded SD3 repository, e.g. SD3 Medium in fp16.
/// Part of the `bench` family (<see cref="BenchModelsCommand.Subcommands"/>).
/// </summary>
public static class BenchModelsCommand
{
    /// <summary>The model benchmarks: create (repository writing) and transformer (MMDiT step time on a device).</summary>
    public static IEnumerable<Command> Subcommands()
    {
        yield return CreateCommand();
        yield return BenchTransformerCommand.Create();
    }

    private static Command CreateCommand()
    {
        var preset = new Option<string>("--preset")
        {
            Description = "Model size: tiny or medium.",
            DefaultValueFactory = _ => "medium",
            Validators = { r => ModelsCommand.Validate(r, v => Presets.Get(v)) },
        };
        var precision = ModelsCommand.PrecisionOption();
        precision.DefaultValueFactory = _ => "fp16";
        var seed = new Option<ulong>("--seed") { Description = "Seed of the random weights.", DefaultValueFactory = _ => 0 };
        var output = new Option<string?>("--out") { Description = "Folder to write (default: a temporary folder, deleted afterwards)." };
        var keep = new Option<bool>("--keep") { Description = "Keep the written folder." };
        var command = new Command("create", "Time and peak memory (VmHWM) to write a seeded SD3 model repository (all submodules).")
        {
            preset, precision, seed, output, keep,
        };
        command.SetAction(parse => RunCreate(AnsiConsole.Console, parse.GetValue(preset)!, parse.GetValue(precision)!, parse.GetValue(seed),
            parse.GetValue(output), parse.GetValue(keep)));
        return command;
    }

    /// <summary>Writes the repository (into <paramref name="output"/> or a temporary folder), then prints time, bytes and VmHWM.</summary>
    public static int RunCreate(IAnsiConsole console, string name, string precision, ulong seed, string? output, bool keep) => ModelsCommand.Guard(console, () =>
        {
            var dtype = Precision.Parse(precision);
            var outDir = output ?? Path.Combine(Path.GetTempPath(), $"sd3mesh-bench-create-{Environment.ProcessId}");
            var keepIt = keep || output is not null;
            try
            {
                var clock = Stopwatch.StartNew();
                ModelWriteProgress.Run(console, progress => ModelZoo.Create(name, dtype, seed, outDir, progress));
                var elapsed = clock.Elapsed;
                var repo = ModelRepository.Open(outDir);
                long bytes = repo.Submodules.Sum(s => s.ModelBytes);
                long parameters = repo.Submodules.Sum(s => s.Signature.ParameterCount);
                var table = new Table().AddColumns("preset", "precision", "parameters", "bytes written", "seconds", "GB/s", "peak RSS (VmHWM)");
                table.AddRow(name, Precision.Name(dtype), $"{parameters / 1e9:0.000} B", ModelWriteProgress.Bytes(bytes),
                    elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture),
                    (bytes / 1e9 / elapsed.TotalSeconds).ToString("0.00", CultureInfo.InvariantCulture), ModelWriteProgress.Bytes(PeakResidentBytes()));
                console.Write(table);
            }
            finally
            {
                if (!keepIt && Directory.Exists(outDir)) Directory.Delete(outDir, recursive: true);
            }
            return 0;
        });

    /// <summary>Peak resident set size of this process (VmHWM in /proc/self/status), or -1 where unavailable.</summary>
    public static long PeakResidentBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException) { }
        return -1;
    }
}
