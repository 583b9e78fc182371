namespace Sd3Mesh.Models;

/// <summary>The six ONNX submodules of an SD3 model repository (optimum's folder names).</summary>
public enum Submodule
{
    TextEncoder,
    TextEncoder2,
    TextEncoder3,
    Transformer,
    VaeDecoder,
    VaeEncoder,
}

public static class Submodules
{
    public static readonly IReadOnlyList<Submodule> All =
        [Submodule.TextEncoder, Submodule.TextEncoder2, Submodule.TextEncoder3, Submodule.Transformer, Submodule.VaeDecoder, Submodule.VaeEncoder];

    /// <summary>The folder name: text_encoder, text_encoder_2, text_encoder_3, transformer, vae_decoder, vae_encoder.</summary>
    public static string FolderName(this Submodule s) => s switch
    {
        Submodule.TextEncoder => "text_encoder",
        Submodule.TextEncoder2 => "text_encoder_2",
        Submodule.TextEncoder3 => "text_encoder_3",
        Submodule.Transformer => "transformer",
        Submodule.VaeDecoder => "vae_decoder",
        Submodule.VaeEncoder => "vae_encoder",
        _ => throw new ArgumentOutOfRangeException(nameof(s), s, null),
    };

    public static Submodule Parse(string name)
    {
        foreach (var s in All)
            if (s.FolderName() == name.Trim()) return s;
        throw new FormatException($"unknown submodule '{name}': expected one of {string.Join(", ", All.Select(FolderName))}");
    }

    /// <summary>Parses a comma-separated list ("transformer,vae_decoder").</summary>
    public static IReadOnlyList<Submodule> ParseList(string list) =>
        list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Parse).Distinct().ToArray();
}
