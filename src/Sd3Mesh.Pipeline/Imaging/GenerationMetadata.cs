using System.Globalization;
using System.Text;

namespace Sd3Mesh.Pipeline.Imaging;

/// <summary>
/// What a generated PNG records about its job, as tEXt chunks (prompt, prompt_2, prompt_3,
/// negative_prompt[_2, _3], seed, steps, guidance_scale, width, height, model, strength for image-to-image)
/// plus an Automatic1111-style "parameters" chunk that image browsers and web UIs read.
/// </summary>
public sealed record GenerationMetadata
{
    public required string Prompt { get; init; }
    /// <summary>The prompt CLIP-G (text_encoder_2) saw: prompt_2, or the prompt when none was given.</summary>
    public required string Prompt2 { get; init; }
    /// <summary>The prompt T5 (text_encoder_3) saw: prompt_3, or the prompt when none was given.</summary>
    public required string Prompt3 { get; init; }
    public string NegativePrompt { get; init; } = "";
    public string? NegativePrompt2 { get; init; }
    public string? NegativePrompt3 { get; init; }
    public required ulong Seed { get; init; }
    public required int Steps { get; init; }
    public required double GuidanceScale { get; init; }
    public required int Width { get; init; }
    public required int Height { get; init; }
    public required string Model { get; init; }
    public double? Strength { get; init; }
    public double Shift { get; init; } = 3.0;

    public List<KeyValuePair<string, string>> ToTextChunks()
    {
        var c = CultureInfo.InvariantCulture;
        var list = new List<KeyValuePair<string, string>> { new("prompt", Prompt), new("prompt_2", Prompt2), new("prompt_3", Prompt3) };
        list.Add(new("negative_prompt", NegativePrompt));
        if (!string.IsNullOrEmpty(NegativePrompt2)) list.Add(new("negative_prompt_2", NegativePrompt2));
        if (!string.IsNullOrEmpty(NegativePrompt3)) list.Add(new("negative_prompt_3", NegativePrompt3));
        list.Add(new("seed", Seed.ToString(c)));
        list.Add(new("steps", Steps.ToString(c)));
        list.Add(new("guidance_scale", GuidanceScale.ToString("G", c)));
        list.Add(new("width", Width.ToString(c)));
        list.Add(new("height", Height.ToString(c)));
        list.Add(new("model", Model));
        if (Strength is { } s) list.Add(new("strength", s.ToString("G", c)));
        list.Add(new("parameters", Automatic1111Parameters()));
        return list;
    }

    /// <summary>"prompt\nNegative prompt: ...\nSteps: 28, Sampler: Euler, ..." as Automatic1111 writes it.</summary>
    public string Automatic1111Parameters()
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder(Prompt);
        if (NegativePrompt.Length > 0) sb.Append("\nNegative prompt: ").Append(NegativePrompt);
        sb.Append("\nSteps: ").Append(Steps.ToString(c))
          .Append(", Sampler: Euler, Schedule type: Simple, CFG scale: ").Append(GuidanceScale.ToString("G", c))
          .Append(", Seed: ").Append(Seed.ToString(c))
          .Append(", Size: ").Append(Width.ToString(c)).Append('x').Append(Height.ToString(c))
          .Append(", Model: ").Append(Model)
          .Append(", Shift: ").Append(Shift.ToString("G", c));
        if (Strength is { } s) sb.Append(", Denoising strength: ").Append(s.ToString("G", c));
        sb.Append(", Version: Sd3Mesh");
        return sb.ToString();
    }
}
