using System.CommandLine;
using Sd3Mesh.Models;
using Sd3Mesh.Models.Graphs;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>`sd3mesh models create|convert|inspect`: SD3 ONNX model repositories.</summary>
public static class ModelsCommand
{
    public static Command Create()
    {
        var command = new Command("models", "Create, convert and inspect SD3 ONNX model repositories.");
        command.Subcommands.Add(ModelsCreateCommand.Create());
        command.Subcommands.Add(ModelsConvertCommand.Create());
        command.Subcommands.Add(ModelsInspectCommand.Create());
        return command;
    }

    /// <summary>
    /// Runs a command body, turning errors into a one-line message and the exit code of <see cref="ExitCodes"/>:
    /// bad input (options, a model folder that is missing or not a model) 2, a failed write 1.
    /// </summary>
    public static int Guard(IAnsiConsole console, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception ex) when (ex is ModelFormatException or FormatException or ArgumentException or FileNotFoundException or DirectoryNotFoundException)
        {
            console.MarkupLine($"[red]error: {Markup.Escape(ex.Message)}[/]");
            return ExitCodes.Usage;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            console.MarkupLine($"[red]error: {Markup.Escape(ex.Message)}[/]");
            return ExitCodes.Failed;
        }
    }

    /// <summary>--precision fp32|fp16.</summary>
    public static Option<string> PrecisionOption() => new("--precision")
    {
        Description = "Weight and activation precision: fp32 or fp16 (fp16 keeps norms, softmax and the timestep sinusoid in fp32).",
        DefaultValueFactory = _ => "fp32",
        Validators = { r => Validate(r, v => Precision.Parse(v)) },
    };

    /// <summary>--attention plain|contrib.</summary>
    public static Option<string> AttentionOption() => new("--attention")
    {
        Description = "Attention in the transformer and VAE: contrib (ONNX Runtime's com.microsoft MultiHeadAttention, 13x faster on WebGPU) or plain (MatMul/Softmax, standard ONNX).",
        DefaultValueFactory = _ => AttentionKernels.Default.Name(),
        Validators = { r => Validate(r, v => ParseAttention(v)) },
    };

    public static AttentionKernel ParseAttention(string name) => name.Trim().ToLowerInvariant() switch
    {
        "plain" => AttentionKernel.MatMulSoftmax,
        "contrib" => AttentionKernel.ContribMultiHeadAttention,
        _ => throw new FormatException($"unknown attention '{name}': expected plain or contrib"),
    };

    public static void Validate(System.CommandLine.Parsing.OptionResult result, Action<string> parse)
    {
        var value = result.GetValueOrDefault<string>();
        if (value is null) return;
        try { parse(value); }
        catch (FormatException ex) { result.AddError($"{result.Option.Name}: {ex.Message}"); }
    }
}
