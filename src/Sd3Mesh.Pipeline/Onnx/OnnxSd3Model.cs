using Sd3Mesh.Models;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline.Sampling;
using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Models.Tokenizers;

namespace Sd3Mesh.Pipeline.Onnx;

/// <summary>
/// An SD3 ONNX model folder (optimum's layout, written by Sd3Mesh or exported by optimum) opened for the
/// single-process pipeline: tokenizers, configs, and one ONNX Runtime session per submodule on the chosen
/// device, each created on first use. Disposing releases the sessions.
/// </summary>
public sealed class OnnxSd3Model : IDisposable
{
    private readonly List<OnnxSubmodule> _submodules = [];
    private readonly OrtEnvironment _environment;

    private OnnxSd3Model(ModelRepository repository, OrtEnvironment environment, Sd3Components components)
    {
        Repository = repository;
        _environment = environment;
        Components = components;
    }

    public ModelRepository Repository { get; }
    public Sd3Components Components { get; private set; }
    public OrtRunClock Clock { get; } = new();
    public IReadOnlyList<OnnxSubmodule> Submodules => _submodules;

    /// <param name="directory">the model folder</param>
    /// <param name="device">cpu, webgpu:N, cuda:N</param>
    /// <param name="intraOpThreads">threads per CPU session (0: ONNX Runtime's default)</param>
    public static OnnxSd3Model Open(string directory, string device = "cpu", int intraOpThreads = 0) =>
        Open(directory, Device.Parse(device), intraOpThreads);

    /// <param name="directory">the model folder</param>
    /// <param name="device">where every submodule's session runs</param>
    /// <param name="intraOpThreads">threads per CPU session (0: ONNX Runtime's default)</param>
    public static OnnxSd3Model Open(string directory, Device device, int intraOpThreads = 0)
    {
        var repository = ModelRepository.Open(directory);
        var parsedDevice = device;
        foreach (var required in new[] { Submodule.TextEncoder, Submodule.TextEncoder2, Submodule.Transformer, Submodule.VaeDecoder })
            _ = repository[required];
        var tokenizers = Sd3Tokenizers.Load(repository.Directory, withT5: repository.Has(Submodule.TextEncoder3));
        bool hasT5 = repository.Has(Submodule.TextEncoder3) && tokenizers.T5 is not null;

        var environment = OrtEnvironment.Create();
        var model = new OnnxSd3Model(repository, environment, null!);
        try
        {
            OnnxSubmodule Session(Submodule s)
            {
                var options = new SessionOptions { Device = parsedDevice, IntraOpThreads = intraOpThreads, LogId = s.FolderName() };
                var submodule = new OnnxSubmodule(s.FolderName(), repository[s], environment, options, model.Clock);
                model._submodules.Add(submodule);
                return submodule;
            }

            model.Components = new Sd3Components
            {
                Tokenizer = tokenizers.Clip,
                Tokenizer2 = tokenizers.Clip2,
                Tokenizer3 = hasT5 ? tokenizers.T5 : null,
                TextEncoder = new OnnxClipTextEncoder(Session(Submodule.TextEncoder)),
                TextEncoder2 = new OnnxClipTextEncoder(Session(Submodule.TextEncoder2)),
                TextEncoder3 = hasT5 ? new OnnxT5TextEncoder(Session(Submodule.TextEncoder3)) : null,
                Transformer = new OnnxDenoiser(Session(Submodule.Transformer)),
                VaeDecoder = new OnnxVaeDecoder(Session(Submodule.VaeDecoder)),
                VaeEncoder = repository.Has(Submodule.VaeEncoder) ? new OnnxVaeEncoder(Session(Submodule.VaeEncoder)) : null,
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

    /// <summary>"tiny-fp32-seed0" for seeded folders, else the folder's name.</summary>
    private static string ModelName(ModelRepository repository) =>
        repository.Manifest is { Source: "random" } m ? $"{m.Preset}-{m.Precision}-seed{m.Seed}" : Path.GetFileName(repository.Directory.TrimEnd('/'));

    public void Dispose()
    {
        foreach (var s in _submodules) s.Dispose();
        _environment.Dispose();
    }
}
