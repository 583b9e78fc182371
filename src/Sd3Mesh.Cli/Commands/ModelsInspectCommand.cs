using System.CommandLine;
using Sd3Mesh.Models;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Models.Tokenizers;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>`sd3mesh models inspect DIR`: what a repository holds, without loading weights.</summary>
public static class ModelsInspectCommand
{
    public static Command Create()
    {
        var directory = new Argument<string>("dir") { Description = "An ONNX model repository (written by Sd3Mesh or exported by optimum)." };
        var command = new Command("inspect", "List a repository's submodules: parameters, bytes per precision, inputs and outputs.") { directory };
        command.SetAction(parse => Run(AnsiConsole.Console, parse.GetValue(directory)!));
        return command;
    }

    public static int Run(IAnsiConsole console, string directory) => ModelsCommand.Guard(console, () =>
    {
        Print(console, ModelRepository.Open(directory));
        return 0;
    });

    private static void Print(IAnsiConsole console, ModelRepository repo)
    {
        console.MarkupLineInterpolated($"[bold]{repo.Directory}[/]");
        if (repo.Manifest is { } m)
            console.MarkupLineInterpolated(
                $"sd3mesh.json: {(m.Source == "random" ? $"seeded preset {m.Preset}, seed {m.Seed}" : $"converted from {m.ConvertedFrom}")}, {m.Precision}{(m.T5Int8 ? ", T5 int8" : "")}, {m.Attention} attention, created {m.CreatedUtc}");
        else
            console.MarkupLine("no sd3mesh.json (not written by Sd3Mesh)");

        var table = new Table().AddColumns("submodule", "parameters", "fp32", "fp16", "on disk");
        foreach (var s in repo.Submodules.OrderBy(s => s.Submodule))
        {
            long n = s.Signature.ParameterCount;
            table.AddRow(s.Submodule.FolderName(), $"{n / 1e6:N1} M", ModelWriteProgress.Bytes(n * 4), ModelWriteProgress.Bytes(n * 2),
                ModelWriteProgress.Bytes(s.ModelBytes));
        }
        console.Write(table);
        foreach (var s in repo.Submodules.OrderBy(s => s.Submodule))
        {
            console.MarkupLineInterpolated($"[bold]{s.Submodule.FolderName()}[/] (opset {s.Signature.Opsets.GetValueOrDefault("")})");
            foreach (var i in s.Inputs) console.MarkupLineInterpolated($"  in   {i.ToString()}");
            var outputs = s.Outputs.Count > 5 ? s.Outputs.Take(4).ToList() : s.Outputs.ToList();
            foreach (var o in outputs) console.MarkupLineInterpolated($"  out  {o.ToString()}");
            if (outputs.Count < s.Outputs.Count)
                console.MarkupLineInterpolated($"  out  ... {s.Outputs.Count - outputs.Count} more, to {s.Outputs[^1].ToString()}");
        }
        var vae = repo.Vae;
        console.MarkupLineInterpolated(
            $"scheduler: {repo.Scheduler.ClassName} (shift {repo.Scheduler.Shift}, {repo.Scheduler.NumTrainTimesteps} train timesteps); VAE scaling_factor {vae.ScalingFactor}, shift_factor {vae.ShiftFactor?.ToString() ?? "none"}");
        // Loaded as the pipeline loads them, so a folder it could not use fails here, with the reason.
        var tokenizers = Sd3Tokenizers.Load(repo.Directory, withT5: repo.Has(Submodule.TextEncoder3));
        string Describe(TextTokenizer t) =>
            $"{(t.Model is BpeModel ? "BPE" : "Unigram")}, ids < {t.IdLimit}, pad {t.PadToken} ({t.PadId}), {t.Added.Tokens.Count} added tokens";
        console.MarkupLineInterpolated($"tokenizer (CLIPTokenizer): {Describe(tokenizers.Clip)}, rows of {tokenizers.ClipLength}");
        console.MarkupLineInterpolated($"tokenizer_2 (CLIPTokenizer): {Describe(tokenizers.Clip2)}");
        console.MarkupLineInterpolated($"tokenizer_3 (T5TokenizerFast): {(tokenizers.T5 is null ? "not used (no text_encoder_3, or no tokenizer_3/): runs without T5" : Describe(tokenizers.T5))}");
    }
}
