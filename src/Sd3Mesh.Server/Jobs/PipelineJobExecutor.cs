using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.IO;
using Sd3Mesh.Pipeline.Vae;
using Sd3Mesh.Server.Cluster;

namespace Sd3Mesh.Server.Jobs;

/// <summary>
/// Runs jobs on one <see cref="Sd3Pipeline"/> in this process: one pipeline for the server's life, so its
/// prompt-embedding cache serves repeated prompts across jobs. Reports the pipeline's progress as it comes
/// (its stages, every step, a latent preview every preview_interval steps) and returns one PNG (with the
/// pipeline's metadata chunks) or one .npy of latents [C, height/8, width/8] per image. Cancelling stops
/// the pipeline between steps (and inside an ONNX Runtime run at the next operator); the model stays
/// usable for the next job. Jobs run one at a time (the scheduler's contract).
/// </summary>
public sealed class PipelineJobExecutor : IJobExecutor, IDisposable
{
    private readonly Sd3Pipeline _pipeline;
    private readonly IDisposable? _owner;
    private LatentPreview? _preview;

    /// <param name="owner">disposed with the executor (the model's sessions)</param>
    public PipelineJobExecutor(Sd3Components components, IDisposable? owner = null)
    {
        _pipeline = new Sd3Pipeline(components);
        _owner = owner;
    }

    /// <summary>The submodules as the Cluster service reports them (none unless set by <see cref="JobExecutors.ForModels"/>).</summary>
    public IGrainDirectory Grains { get; init; } = new NoGrains();

    public Sd3ModelConfig Model => _pipeline.Components.Model;
    Sd3ModelConfig? IJobExecutor.Model => Model;
    public Sd3Pipeline Pipeline => _pipeline;

    public async Task<IReadOnlyList<JobImage>> ExecuteAsync(GenerationSpec spec, IJobProgress progress, CancellationToken cancellationToken)
    {
        var request = spec.Request;
        // Fitted once per model, on the first job that asks for previews (it decodes a few small latents).
        var preview = spec.PreviewInterval > 0
            ? _preview ??= await LatentPreview.FitAsync(_pipeline.Components.VaeDecoder, Model, cancellationToken: cancellationToken).ConfigureAwait(false)
            : null;

        var result = await _pipeline.GenerateAsync(request, p =>
        {
            switch (p.Kind)
            {
                case ProgressKind.StageStarted:
                    progress.StageStarted(p.Stage);
                    break;
                case ProgressKind.Step:
                    // The latents are read only for a preview step (on a GPU each read is a copy off the card).
                    var latents = preview is not null ? p.Latents : null;
                    progress.StepCompleted(p.Step, p.TotalSteps, latents is not null
                        ? new JobPreview(JobImage.Png, preview!.RenderPng(latents), (int)latents.Shape[3], (int)latents.Shape[2])
                        : null);
                    break;
            }
        }, cancellationToken, latentsEvery: preview is null ? 0 : spec.PreviewInterval).ConfigureAwait(false);

        if (request.OutputType == OutputType.Image)
            return result.Images.Select(i => new JobImage(JobImage.Png, i.ToPng(), request.Width, request.Height, i.Seed)).ToList();

        var latentShape = result.Latents.Shape;
        return result.Images.Select(i =>
        {
            using var npy = new MemoryStream();
            NpyFile.Write(npy, result.Latents.Slice0(i.Index, 1).Reshape(latentShape[1], latentShape[2], latentShape[3]));
            return new JobImage(JobImage.Npy, npy.ToArray(), request.Width, request.Height, i.Seed);
        }).ToList();
    }

    public void Dispose() => _owner?.Dispose();
}
