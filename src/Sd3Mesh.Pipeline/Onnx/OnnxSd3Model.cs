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
        var repository = ModelRepository.Open(directory);
        foreach (var required in new[] { Submodule.TextEncoder, Submodule.TextEncoder2, Submodule.Transformer, Submodule.VaeDecoder })
            _ = repository[required];
        var tokenizers = Sd3Tokenizers.Load(repository.Directory, withT5: repository.Has(Submodule.TextEncoder3));
        bool hasT5 = repository.Has(Submodule.TextEncoder3) && tokenizers.T5 is not null;

        var model = new OnnxSd3Model(repository, placement, options);
        try
        {
            OnnxSubmodule Session(Submodule s, Device device, string name, bool cudaGraph = false)
            {
                var settings = new SessionSettings
                {
                    Device = device,
                    IntraOpThreads = options.IntraOpThreads,
                    Tf32 = options.Tf32 || Float16(repository[s]),
                    CudaGraph = cudaGraph && device.IsCuda,
                    LogId = name,
                    ProfilingFilePrefix = options.ProfileDirectory is { } dir ? Path.Combine(dir, name) : null,
                };
                // Multi-GB models: grow the CUDA arena by what is asked, not to the next power of two (ORT's default).
                if (device.IsCuda) settings.ProviderOptions["arena_extend_strategy"] = "kSameAsRequested";
                var submodule = new OnnxSubmodule(name, repository[s], settings, model.Clock);
                model._submodules.Add(submodule);
                return submodule;
            }
            OnnxSubmodule Placed(Submodule s) => Session(s, placement.For(s), s.FolderName());

            var transformer = Session(Submodule.Transformer, placement.For(Submodule.Transformer), Submodule.Transformer.FolderName(), options.CudaGraph);
            var uncond = placement.UncondTransformer is { } u && u != transformer.Device
                ? Session(Submodule.Transformer, u, DevicePlacement.UncondTransformerKey)
                : null;
            model._denoiser = new OnnxDenoiser(transformer, uncond, options.CudaGraph ? DenoiseResidency.Device : options.Residency);
            model.Components = new Sd3Components
            {
                Tokenizer = tokenizers.Clip,
                Tokenizer2 = tokenizers.Clip2,
                Tokenizer3 = hasT5 ? tokenizers.T5 : null,
                TextEncoder = new OnnxClipTextEncoder(Placed(Submodule.TextEncoder)),
                TextEncoder2 = new OnnxClipTextEncoder(Placed(Submodule.TextEncoder2)),
                TextEncoder3 = hasT5 ? new OnnxT5TextEncoder(Placed(Submodule.TextEncoder3)) : null,
                Transformer = model._denoiser,
                VaeDecoder = new OnnxVaeDecoder(Placed(Submodule.VaeDecoder)),
                VaeEncoder = repository.Has(Submodule.VaeEncoder) ? new OnnxVaeEncoder(Placed(Submodule.VaeEncoder)) : null,
                // ModelRepository.Open has checked that the scheduler config exists and is FlowMatchEulerDiscreteScheduler's.
                Scheduler = FlowMatchSchedulerConfig.Load(Path.Combine(repository.Directory, RepositoryLayout.SchedulerConfigFile)),
                Model = Sd3ModelConfig.From(repository),
                ModelName = ModelName(repository),
            };
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A submodule fed float16 activations (the transformer and the VAE, the submodules with convolutions) keeps ONNX
    /// Runtime's TF32 default (on): in ORT 1.32's cuDNN-frontend convolution, use_tf32=0 removes tensor-core engines for
    /// every element type, float16 included (the SD3 VAE decoder at 1024x1024 took 424 ms instead of 122 on an H100).
    /// TF32 then touches only the float32 islands of those float16 graphs (norm statistics, the timestep sinusoid),
    /// whose inputs it rounds to float16's mantissa width with float32's range. The text encoders (int ids in, no
    /// convolutions) and float32 models stay exact.
    /// </summary>
    private static bool Float16(SubmoduleInfo info) => info.Inputs.Any(i => i.DType == Tensors.DType.Float16);

    /// <summary>Ends profiling of every loaded session: (submodule, profile path) for each that wrote one.</summary>
    public IReadOnlyList<(string Submodule, string Path)> EndProfiling() =>
        [.. _submodules.Select(s => (s.Name, Path: s.EndProfiling())).Where(p => p.Path is not null).Select(p => (p.Name, p.Path!))];

    /// <summary>"tiny-fp32-seed0" for seeded folders, else the folder's name.</summary>
    private static string ModelName(ModelRepository repository) =>
        repository.Manifest is { Source: "random" } m ? $"{m.Preset}-{m.Precision}-seed{m.Seed}" : Path.GetFileName(repository.Directory.TrimEnd('/'));

    public void Dispose()
    {
        _denoiser?.Dispose();
        foreach (var s in _submodules) s.Dispose();
    }
}
