using System.CommandLine;
using Sd3Mesh.Models;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// What the bench commands that time whole SD3 jobs share (`bench pipeline`, `bench cluster`): the model options
/// (a folder, or the seeded preset models created once in the cache) and the prompts every timed job uses.
/// </summary>
internal sealed class BenchModels
{
    public const string Prompt = "a photo of a cat holding a sign that says hello world";
    public const string NegativePrompt = "blurry, low quality";

    public Option<DirectoryInfo?> Models { get; } = new("--models") { Description = "SD3 ONNX model folder; default: seeded models of --preset, created once in the cache" };
    public Option<string> Preset { get; } = new("--preset") { Description = "tiny or medium (used without --models)", DefaultValueFactory = _ => "tiny" };
    public Option<string> Precision { get; } = new("--precision") { Description = "fp32 or fp16 (used without --models)", DefaultValueFactory = _ => "fp32" };

    public IEnumerable<Option> All => [Models, Preset, Precision];

    /// <summary>The model folder: <paramref name="models"/>, else the preset's seeded models (created now if the cache lacks them).</summary>
    /// <exception cref="FormatException">an unknown precision</exception>
    public static string Folder(IAnsiConsole console, string? models, string preset, string precision) =>
        models ?? GenerateCommand.EnsureDefaultModels(console, preset, Sd3Mesh.Models.Precision.Parse(precision), GenerateCommand.DefaultWeightSeed);
}
