using System.Collections.Concurrent;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline.Denoising;
using Sd3Mesh.Pipeline.Stages;

namespace Sd3Mesh.Pipeline.Onnx;

/// <summary>
/// The SD3 transformer on ONNX Runtime as the denoising loop uses it. Each job either keeps its latents and prompt
/// embeddings on the transformer's device (<see cref="ResidentDenoisingJob"/>: CUDA by default, any device when
/// asked) or runs on the host over the transformer's forward pass (<see cref="HostDenoiser"/>, with split guidance's
/// negative pass on a second device when the placement gives one). The small graphs of the device-side step are
/// made once per shape and kept.
/// </summary>
public sealed class OnnxDenoiser : IDenoiser, IDisposable
{
    private readonly OnnxSubmodule _transformer;
    private readonly HostDenoiser _host;
    private readonly ConcurrentDictionary<StepLayout, Lazy<(OnnxSession Prepare, OnnxSession Step)>> _graphs = new();

    public OnnxDenoiser(OnnxSubmodule transformer, OnnxSubmodule? uncondTransformer, DenoiseResidency residency)
    {
        _transformer = transformer;
        Transformer = new OnnxTransformer(transformer);
        _host = new HostDenoiser(Transformer, uncondTransformer is null ? null : new OnnxTransformer(uncondTransformer));
        Resident = residency == DenoiseResidency.Device || (residency == DenoiseResidency.Auto && transformer.Device.IsCuda);
    }

    /// <summary>The transformer's forward pass (host tensors in and out).</summary>
    public OnnxTransformer Transformer { get; }

    /// <summary>True when jobs keep their latents in the transformer's device memory.</summary>
    public bool Resident { get; }

    public Task<IDenoisingJob> BeginAsync(DenoisingSetup setup, CancellationToken cancellationToken = default) =>
        Resident
            ? ResidentDenoisingJob.BeginAsync(_transformer, Graphs, setup, cancellationToken)
            : _host.BeginAsync(setup, cancellationToken);

    private (OnnxSession Prepare, OnnxSession Step) Graphs(StepLayout layout) =>
        _graphs.GetOrAdd(layout, l => new Lazy<(OnnxSession, OnnxSession)>(() =>
        {
            var settings = new SessionSettings { Device = _transformer.Device, LogId = "denoise_step" };
            var prepare = OnnxSession.Create(DenoiseStepGraphs.Prepare(l), settings);
            try
            {
                return (prepare, OnnxSession.Create(DenoiseStepGraphs.Step(l), settings));
            }
            catch
            {
                prepare.Dispose();
                throw;
            }
        })).Value;

    public void Dispose()
    {
        foreach (var graphs in _graphs.Values.Where(g => g.IsValueCreated).Select(g => g.Value))
        {
            graphs.Prepare.Dispose();
            graphs.Step.Dispose();
        }
    }
}
