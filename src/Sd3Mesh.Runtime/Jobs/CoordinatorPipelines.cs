using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Pipeline.Vae;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Grains;
using Sd3Mesh.Runtime.Catalog;
using Sd3Mesh.Runtime.Stages;
using Sd3Mesh.Runtime.Tensors;
using Sd3Mesh.Runtime.Tracing;

namespace Sd3Mesh.Runtime.Jobs;

/// <summary>
/// The pipelines coordinators on this silo run: one <see cref="Sd3Pipeline"/> per transformer device, its stages the
/// cluster's grains (tokenizers and configs from the silo's <see cref="ModelCatalog"/>), kept for the silo's life so
/// its prompt-embedding cache serves repeated prompts across jobs; and the model's latent preview, fitted once.
/// </summary>
public sealed class CoordinatorPipelines(ModelCatalog catalog, ITensorExchange tensors, IGrainFactory grains, ILogger<StageCalls> logger,
    JobTraces? traces = null)
{
    private readonly ConcurrentDictionary<Device, Lazy<Sd3Pipeline>> _pipelines = new();
    private Task<LatentPreview>? _preview;

    public Sd3Pipeline For(Device transformerDevice) =>
        _pipelines.GetOrAdd(transformerDevice, d => new Lazy<Sd3Pipeline>(() => new Sd3Pipeline(Components(d)))).Value;

    /// <summary>The preview's map has been fitted (or is being fitted) on this silo.</summary>
    public bool PreviewFitted => _preview is not null;

    public Task<LatentPreview> PreviewAsync(Sd3Pipeline pipeline, CancellationToken cancellationToken) =>
        _preview ??= LatentPreview.FitAsync(pipeline.Components.VaeDecoder, catalog.Folder.Model, cancellationToken: cancellationToken);

    private Sd3Components Components(Device transformerDevice)
    {
        var plan = catalog.Plan;
        var folder = catalog.Folder;
        var calls = new StageCalls(catalog.Config, logger, traces);
        T Grain<T>(PlacedSubmodule s) where T : IGrainWithStringKey => grains.GetGrain<T>(plan.Single(s).Key.ToString());
        var transformers = plan.Replicas(PlacedSubmodule.Transformer);
        var own = transformers.FirstOrDefault(g => g.Key.Device == transformerDevice)
            ?? throw new ArgumentException($"no transformer is placed on {transformerDevice} (placement.transformer: {string.Join(", ", transformers.Select(t => t.Key.Device))})");
        IDenoiser denoiser = catalog.Config.CfgParallel
            ? new CfgParallelDenoiser(grains.GetGrain<ITransformerGrain>(transformers[0].Key.ToString()),
                grains.GetGrain<ITransformerGrain>(transformers[1].Key.ToString()), tensors, calls)
            : new GrainDenoiser(grains.GetGrain<ITransformerGrain>(own.Key.ToString()), tensors, calls);
        bool t5 = folder.HasT5 && plan.Has(PlacedSubmodule.TextEncoder3);
        var vae = Grain<IVaeGrain>(PlacedSubmodule.Vae);
        return new Sd3Components
        {
            Tokenizer = folder.Tokenizers.Clip,
            Tokenizer2 = folder.Tokenizers.Clip2,
            Tokenizer3 = t5 ? folder.Tokenizers.T5 : null,
            TextEncoder = new GrainClipTextEncoder(Grain<IClipEncoderGrain>(PlacedSubmodule.TextEncoder), tensors, calls),
            TextEncoder2 = new GrainClipTextEncoder(Grain<IClipEncoderGrain>(PlacedSubmodule.TextEncoder2), tensors, calls),
            TextEncoder3 = t5 ? new GrainT5TextEncoder(Grain<IT5EncoderGrain>(PlacedSubmodule.TextEncoder3), tensors, calls) : null,
            Transformer = denoiser,
            VaeDecoder = new GrainVaeDecoder(vae, tensors, calls),
            VaeEncoder = folder.Repository.Has(Sd3Mesh.Models.Submodule.VaeEncoder) ? new GrainVaeEncoder(vae, tensors, calls) : null,
            Scheduler = folder.Scheduler,
            Model = folder.Model,
            ModelName = folder.Name,
        };
    }
}
