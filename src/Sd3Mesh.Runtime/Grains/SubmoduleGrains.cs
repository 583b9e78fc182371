using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Placement;

namespace Sd3Mesh.Runtime.Grains;

public static class SubmoduleGrains
{
    /// <summary>The grain of a placed submodule, by its interface (CLIP, T5, transformer, VAE).</summary>
    public static ISubmoduleGrain Submodule(this IGrainFactory grains, PlacedGrain g) => g.Submodule switch
    {
        PlacedSubmodule.TextEncoder or PlacedSubmodule.TextEncoder2 => grains.GetGrain<IClipEncoderGrain>(g.Key.ToString()),
        PlacedSubmodule.TextEncoder3 => grains.GetGrain<IT5EncoderGrain>(g.Key.ToString()),
        PlacedSubmodule.Transformer => grains.GetGrain<ITransformerGrain>(g.Key.ToString()),
        _ => grains.GetGrain<IVaeGrain>(g.Key.ToString()),
    };
}
