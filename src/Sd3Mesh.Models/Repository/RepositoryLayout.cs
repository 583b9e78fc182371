namespace Sd3Mesh.Models.Repository;

/// <summary>File names of an ONNX model repository (optimum's SD3 export layout).</summary>
public static class RepositoryLayout
{
    public const string ModelFile = "model.onnx";
    public const string ExternalDataFile = "model.onnx_data";
    public const string ConfigFile = "config.json";
    public const string ModelIndexFile = "model_index.json";
    public const string SchedulerConfigFile = "scheduler/scheduler_config.json";
    public static readonly IReadOnlyList<string> TokenizerFolders = ["tokenizer", "tokenizer_2", "tokenizer_3"];
}
