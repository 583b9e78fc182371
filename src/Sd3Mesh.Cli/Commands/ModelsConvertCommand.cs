using System.CommandLine;
using System.Diagnostics;
using Sd3Mesh.Models;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>`sd3mesh models convert --from DIFFUSERS_DIR --out DIR`: real SD3 weights to an ONNX repository.</summary>
public static class ModelsConvertCommand
{
    public static Command Create()
    {
        var from = new Option<string>("--from")
        {
            Description = "A diffusers StableDiffusion3Pipeline folder (model_index.json, text_encoder*/, transformer/, vae/ with safetensors).",
            Required = true,
        };
        var output = new Option<string>("--out") { Description = "Folder to write the ONNX repository to.", Required = true };
        var precision = ModelsCommand.PrecisionOption();
        var t5Int8 = new Option<bool>("--t5-int8") { Description = "Store T5's projections as int8 with per-channel scales (weight-only quantization)." };
        var attention = ModelsCommand.AttentionOption();

        var command = new Command("convert", "Convert a diffusers SD3 folder (safetensors) into an ONNX model repository.")
        {
            from, output, precision, t5Int8, attention,
        };
        command.SetAction(parse => Run(AnsiConsole.Console, parse.GetValue(from)!, parse.GetValue(output)!, parse.GetValue(precision)!, parse.GetValue(t5Int8),
            parse.GetValue(attention)!));
        return command;
    }

    public static int Run(IAnsiConsole console, string from, string outDir, string precision, bool t5Int8, string attention = "contrib") =>
        ModelsCommand.Guard(console, () =>
    {
        var dtype = Precision.Parse(precision);
        var kernel = ModelsCommand.ParseAttention(attention);
        var clock = Stopwatch.StartNew();
        ModelWriteProgress.Run(console, progress => ModelConverter.Convert(from, outDir, dtype, t5Int8, progress, kernel));
        console.MarkupLineInterpolated($"[green]wrote[/] {Path.GetFullPath(outDir)} in {clock.Elapsed.TotalSeconds:0.0} s");
        return 0;
    });
}
