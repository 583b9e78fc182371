namespace Sd3Mesh.Server.Jobs;

/// <summary>The model `serve` and `generate` run without --models.</summary>
public static class JobExecutors
{
    /// <summary>tiny, float32, weight seed 0 (random weights), created once in the model cache.</summary>
    public const string DefaultPreset = "tiny";
    public const ulong DefaultWeightSeed = 0;
}
