using Sd3Mesh.Models;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline.Sampling;
using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Models.Tokenizers;

namespace Sd3Mesh.Pipeline.Onnx;

/// <summary>
/// An SD3 ONNX model folder (optimum's layout, written by Sd3Mesh or exported by optimum) opened for the
/// single-process pipeline: tokenizers, configs, and one ONNX Runtime session per submodule on the device its
/// <see cref="DevicePlacement"/> gives it, each created on first use. Calls go through each device's
/// <see cref="DeviceQueue"/>, so stages on different devices overlap (the three text encoders, the two passes of
/// split guidance). The ONNX implementations of the pipeline's stages live here, apart from
/// <see cref="Sd3Pipeline"/>, which sees only the stage interfaces. Disposing releases the sessions.
/// </summary>
public sealed class OnnxSd3Model : IDisposable
{
    private readonly List<OnnxSubmodule> _submodules = [];
    private OnnxDenoiser? _denoiser;

    private OnnxSd3Model(ModelRepository repository, DevicePlacement placement, OnnxModelOptions options)
    {
        Repository = repository;
        Placement = placement;
        Options = options;
    }

    public ModelRepository Repository { get; }
    public DevicePlacement Placement { get; }
    public OnnxModelOptions Options { get; }
    public Sd3Components Components { get; private set; } = null!;
    public OrtRunClock Clock { get; } = new();
    public IReadOnlyList<OnnxSubmodule> Submodules => _submodules;

    /// <summary>True when denoising keeps its latents on the transformer's device.</summary>
    public bool ResidentDenoising => _denoiser?.Resident ?? false;

    /// <param name="directory">the model folder</param>
    /// <param name="placement">the device of each submodule (a <see cref="Device"/> places all of them there); default: cpu</param>
    /// <param name="options">threads, TF32, CUDA graphs, where denoising keeps its latents, profiling</param>
    public static OnnxSd3Model Open(string directory, DevicePlacement? placement = null, OnnxModelOptions? options = null)
    {
        placement ??= DevicePlacement.All(Device.Cpu);
        options ??= new OnnxModelOptions();
        if (options.CudaGraph && options.Residency == DenoiseResidency.Host)
            throw new ArgumentException("CUDA graphs need the device-resident denoising loop (fixed device buffers); it cannot be combined with host residency",
                nameof(options));
        var folder = Sd3ModelFolder.Open(directory);
        var model = new OnnxSd3Model(folder.Repository, placement, options);
        try
        {
            OnnxSubmodule Session(Submodule s, Device device, string? name = null, bool cudaGraph = false)
            {
                var submodule = folder.CreateSession(s, device, options, model.Clock, name, cudaGraph);
                model._submodules.Add(submodule);
                return submodule;
            }
            OnnxSubmodule Placed(Submodule s) => Session(s, placement.For(s));

            var transformer = Session(Submodule.Transformer, placement.For(Submodule.Transformer), cudaGraph: options.CudaGraph);
            var uncond = placement.UncondTransformer is { } u && u != transformer.Device
                ? Session(Submodule.Transformer, u, DevicePlacement.UncondTransformerKey)
                : null;
            model._denoiser = new OnnxDenoiser(transformer, uncond, options.CudaGraph ? DenoiseResidency.Device : options.Residency);
            model.Components = new Sd3Components
            {
                Tokenizer = folder.Tokenizers.Clip,
                Tokenizer2 = folder.Tokenizers.Clip2,
                Tokenizer3 = folder.HasT5 ? folder.Tokenizers.T5 : null,
                TextEncoder = new OnnxClipTextEncoder(Placed(Submodule.TextEncoder)),
                TextEncoder2 = new OnnxClipTextEncoder(Placed(Submodule.TextEncoder2)),
                TextEncoder3 = folder.HasT5 ? new OnnxT5TextEncoder(Placed(Submodule.TextEncoder3)) : null,
                Transformer = model._denoiser,
                VaeDecoder = new OnnxVaeDecoder(Placed(Submodule.VaeDecoder)),
                VaeEncoder = folder.Repository.Has(Submodule.VaeEncoder) ? new OnnxVaeEncoder(Placed(Submodule.VaeEncoder)) : null,
                Scheduler = folder.Scheduler,
                Model = folder.Model,
                ModelName = folder.Name,
            };
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Ends profiling of every loaded session: (submodule, profile path) for each that wrote one.</summary>
    public IReadOnlyList<(string Submodule, string Path)> EndProfiling() =>
        [.. _submodules.Select(s => (s.Name, Path: s.EndProfiling())).Where(p => p.Path is not null).Select(p => (p.Name, p.Path!))];

    public void Dispose()
    {
        _denoiser?.Dispose();
        foreach (var s in _submodules) s.Dispose();
    }
}
