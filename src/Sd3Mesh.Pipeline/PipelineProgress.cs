using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline;

/// <summary>The stages of a job, in order.</summary>
public enum PipelineStage
{
    CheckInputs,
    EncodePrompt,
    PrepareTimesteps,
    PrepareLatents,
    Denoise,
    Decode,
    Postprocess,
}

public enum ProgressKind
{
    StageStarted,
    Step,
    StageCompleted,
}

/// <summary>
/// A progress event: a stage started or completed (with its elapsed time), or denoising step
/// <see cref="Step"/> of <see cref="TotalSteps"/> finished.
/// </summary>
public sealed record PipelineProgress(PipelineStage Stage, ProgressKind Kind, int Step = 0, int TotalSteps = 0, TimeSpan Elapsed = default)
{
    /// <summary>
    /// On the step events the job asked latents for (<c>latentsAt</c>): the latents after this step,
    /// [count, C, H/8, W/8] float32 in the transformer's normalized space (for previews). On the host this is the
    /// loop's own buffer, which the next step overwrites: use it during the callback, copy what you keep.
    /// </summary>
    public Tensor? Latents { get; init; }

    public override string ToString() => Kind switch
    {
        ProgressKind.Step => $"{Stage}: step {Step}/{TotalSteps} ({Elapsed.TotalMilliseconds:F0} ms)",
        ProgressKind.StageCompleted => $"{Stage}: done in {Elapsed.TotalMilliseconds:F0} ms",
        _ => $"{Stage}: started",
    };
}
