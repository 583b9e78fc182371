using Sd3Mesh.Models;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Models.Tokenizers;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline.Sampling;

namespace Sd3Mesh.Pipeline.Onnx;

/// <summary>
/// An SD3 ONNX model folder opened for running, without sessions: its repository, tokenizers, scheduler config,
/// dimensions and display name, and the one way to create a submodule's session on a device. The one-process
/// <see cref="OnnxSd3Model"/> and the grain runtime (a session per grain) both build on it.
/// </summary>
public sealed class Sd3ModelFolder
{
    private Sd3ModelFolder(ModelRepository repository, Sd3Tokenizers tokenizers)
    {
        Repository = repository;
        Tokenizers = tokenizers;
        HasT5 = repository.Has(Submodule.TextEncoder3) && tokenizers.T5 is not null;
        // ModelRepository.Open has checked that the scheduler config exists and is FlowMatchEulerDiscreteScheduler's.
        Scheduler = FlowMatchSchedulerConfig.Load(Path.Combine(repository.Directory, RepositoryLayout.SchedulerConfigFile));
        Model = Sd3ModelConfig.From(repository);
        Name = repository.Manifest is { Source: "random" } m
            ? $"{m.Preset}-{m.Precision}-seed{m.Seed}"
            : Path.GetFileName(repository.Directory.TrimEnd('/'));
    }

    public ModelRepository Repository { get; }
    public Sd3Tokenizers Tokenizers { get; }
    /// <summary>T5 can run: the folder has text_encoder_3 and a tokenizer_3 for it.</summary>
    public bool HasT5 { get; }
    public FlowMatchSchedulerConfig Scheduler { get; }
    public Sd3ModelConfig Model { get; }
    /// <summary>"tiny-fp32-seed0" for seeded folders, else the folder's name.</summary>
    public string Name { get; }

    /// <summary>Opens <paramref name="directory"/>: checks its structure and the submodules every job needs, loads the tokenizers.</summary>
    public static Sd3ModelFolder Open(string directory)
    {
        var repository = ModelRepository.Open(directory);
        foreach (var required in new[] { Submodule.TextEncoder, Submodule.TextEncoder2, Submodule.Transformer, Submodule.VaeDecoder })
            _ = repository[required];
        return new Sd3ModelFolder(repository, Sd3Tokenizers.Load(repository.Directory, withT5: repository.Has(Submodule.TextEncoder3)));
    }

    /// <summary>
    /// <paramref name="submodule"/>'s session on <paramref name="device"/> (created on first use). CUDA sessions grow
    /// their arena by what is asked (multi-GB models), float16 submodules keep ONNX Runtime's TF32 default (see
    /// <see cref="Float16"/>).
    /// </summary>
    public OnnxSubmodule CreateSession(Submodule submodule, Device device, OnnxModelOptions options, OrtRunClock clock,
        string? name = null, bool cudaGraph = false)
    {
        name ??= submodule.FolderName();
        var info = Repository[submodule];
        var settings = new SessionSettings
        {
            Device = device,
            IntraOpThreads = options.IntraOpThreads,
            Tf32 = options.Tf32 || Float16(info),
            CudaGraph = cudaGraph && device.IsCuda,
            SharedArena = options.SharedArena && device.IsCuda,
            LogId = name,
            ProfilingFilePrefix = options.ProfileDirectory is { } dir ? Path.Combine(dir, name) : null,
        };
        if (device.IsCuda) settings.ProviderOptions["arena_extend_strategy"] = "kSameAsRequested";
        return new OnnxSubmodule(name, info, settings, clock);
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
}
