using Sd3Mesh.Pipeline;

namespace Sd3Mesh.Server.Jobs;

/// <summary>
/// A job after validation: the pipeline's request with every default applied and one resolved seed per
/// image in <see cref="GenerationRequest.Seeds"/> (so the executor runs it as is), plus what only the
/// server uses.
/// </summary>
/// <param name="Request">validated against the serving model; Seeds.Count == Count; a resumed job's has its checkpoint</param>
/// <param name="PreviewInterval">send a preview every this many steps; 0: none</param>
/// <param name="CheckpointInterval">report the latents every this many steps (a durable store keeps them); 0: none</param>
public sealed record GenerationSpec(GenerationRequest Request, int PreviewInterval = 0, int CheckpointInterval = 0)
{
    /// <summary>One seed per image, in image order.</summary>
    public IReadOnlyList<ulong> Seeds => Request.Seeds;
    public int Count => Request.Count;
    /// <summary>Denoising steps actually run (image-to-image skips the first ones).</summary>
    public int DenoisingSteps => Request.DenoisingSteps;
}
