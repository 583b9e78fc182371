namespace Sd3Mesh.Server.Jobs;

/// <summary>The one place where `sd3mesh serve` gets its executor.</summary>
public static class JobExecutors
{
    /// <summary>
    /// The executor that runs SD3 with the models in <paramref name="modelsDirectory"/>. This build has
    /// no pipeline yet (Sd3Mesh.Pipeline lands separately), so it refuses instead of producing fake images;
    /// wiring the pipeline means returning its adapter here.
    /// </summary>
    public static IJobExecutor ForModels(string? modelsDirectory) =>
        throw new PipelineUnavailableException(
            "no SD3 pipeline is available in this build of sd3mesh (Sd3Mesh.Pipeline has not landed yet), " +
            "so `sd3mesh serve` cannot generate images" + (modelsDirectory is null ? "" : $" from '{modelsDirectory}'"));
}
