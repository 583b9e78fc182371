using Sd3Mesh.Models;

namespace Sd3Mesh.Runtime.Config;

/// <summary>
/// The five SD3 grains a cluster config places: the three text encoders, the transformer, and the VAE
/// (decoder and encoder together, as one model in diffusers).
/// </summary>
public enum PlacedSubmodule
{
    TextEncoder,
    TextEncoder2,
    TextEncoder3,
    Transformer,
    Vae,
}

public static class PlacedSubmodules
{
    public static readonly IReadOnlyList<PlacedSubmodule> All =
        [PlacedSubmodule.TextEncoder, PlacedSubmodule.TextEncoder2, PlacedSubmodule.TextEncoder3, PlacedSubmodule.Transformer, PlacedSubmodule.Vae];

    /// <summary>The name used in configs, grain keys and the dashboard (diffusers' component names).</summary>
    public static string Name(this PlacedSubmodule s) => s switch
    {
        PlacedSubmodule.TextEncoder => "text_encoder",
        PlacedSubmodule.TextEncoder2 => "text_encoder_2",
        PlacedSubmodule.TextEncoder3 => "text_encoder_3",
        PlacedSubmodule.Transformer => "transformer",
        PlacedSubmodule.Vae => "vae",
        _ => throw new ArgumentOutOfRangeException(nameof(s), s, null),
    };

    public static bool TryParse(string name, out PlacedSubmodule submodule)
    {
        foreach (var s in All)
            if (s.Name() == name) { submodule = s; return true; }
        submodule = default;
        return false;
    }

    /// <summary>The ONNX model folders the grain loads.</summary>
    public static IReadOnlyList<Submodule> Models(this PlacedSubmodule s) => s switch
    {
        PlacedSubmodule.TextEncoder => [Submodule.TextEncoder],
        PlacedSubmodule.TextEncoder2 => [Submodule.TextEncoder2],
        PlacedSubmodule.TextEncoder3 => [Submodule.TextEncoder3],
        PlacedSubmodule.Transformer => [Submodule.Transformer],
        PlacedSubmodule.Vae => [Submodule.VaeDecoder, Submodule.VaeEncoder],
        _ => throw new ArgumentOutOfRangeException(nameof(s), s, null),
    };
}
