using System.CommandLine;
using System.Diagnostics;
using Sd3Mesh.Models;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>`sd3mesh models create --preset tiny|medium --out DIR`: a seeded-random SD3 repository.</summary>
public static class ModelsCreateCommand
{
    public static Command Create()
    {
        var preset = new Option<string>("--preset")
        {
            Description = "Model size: tiny (toy SD3, seconds on a CPU) or medium (SD3 Medium's real dimensions).",
            Required = true,
            Validators = { r => ModelsCommand.Validate(r, v => Presets.Get(v)) },
        };
        var precision = ModelsCommand.PrecisionOption();
        var seed = new Option<ulong>("--seed") { Description = "Seed of the random weights (same seed, same weights).", DefaultValueFactory = _ => 0 };
        var submodules = new Option<string?>("--submodules")
        {
            Description = "Comma-separated subset: text_encoder,text_encoder_2,text_encoder_3,transformer,vae_decoder,vae_encoder (default: all).",
            Validators = { r => ModelsCommand.Validate(r, v => Submodules.ParseList(v)) },
        };
        var t5Int8 = new Option<bool>("--t5-int8") { Description = "Store T5's projections as int8 with per-channel scales (weight-only quantization)." };
        var attention = ModelsCommand.AttentionOption();
        var output = new Option<string>("--out") { Description = "Folder to write the repository to.", Required = true };

        var command = new Command("create", "Write a seeded-random SD3 ONNX model repository (optimum's layout).")
        {
            preset, precision, seed, submodules, t5Int8, attention, output,
        };
        command.SetAction(parse => Run(AnsiConsole.Console, new Settings(parse.GetValue(preset)!, parse.GetValue(precision)!, parse.GetValue(seed),
            parse.GetValue(submodules), parse.GetValue(t5Int8), parse.GetValue(output)!, parse.GetValue(attention)!)));
        return command;
    }

    public sealed record Settings(string Preset, string Precision, ulong Seed, string? Submodules, bool T5Int8, string Out, string Attention = "contrib");

    public static int Run(IAnsiConsole console, Settings s) => ModelsCommand.Guard(console, () =>
    {
        var dtype = Models.Precision.Parse(s.Precision);
        var list = s.Submodules is { } names ? Models.Submodules.ParseList(names) : Models.Submodules.All;
        var clock = Stopwatch.StartNew();
        var attention = ModelsCommand.ParseAttention(s.Attention);
        ModelWriteProgress.Run(console, progress => ModelZoo.Create(s.Preset, dtype, s.Seed, s.Out, progress, list, s.T5Int8, attention));
        console.MarkupLineInterpolated($"[green]wrote[/] {Path.GetFullPath(s.Out)} in {clock.Elapsed.TotalSeconds:0.0} s");
        return 0;
    });
}
