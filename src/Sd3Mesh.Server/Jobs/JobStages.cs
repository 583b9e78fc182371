using Sd3Mesh.Pipeline;
using Sd3Mesh.Protos.V1;

namespace Sd3Mesh.Server.Jobs;

/// <summary>
/// The pipeline's stages as the API reports them (generation.proto's Stage): the one mapping between the
/// two. Encoding the prompts starts with tokenizing (sub-millisecond), so it begins two API stages; the
/// pipeline's bookkeeping stages (checking inputs, preparing timesteps and latents, postprocessing) have none.
/// </summary>
public static class JobStages
{
    public static IReadOnlyList<Stage> OnStart(PipelineStage stage) => stage switch
    {
        PipelineStage.EncodePrompt => [Stage.Tokenize, Stage.Encode],
        PipelineStage.Denoise => [Stage.Denoise],
        PipelineStage.Decode => [Stage.Decode],
        _ => [],
    };
}
