using System.Text.Json.Serialization;

namespace Sd3Mesh.Models.Configs;

/// <summary>diffusers' FlowMatchEulerDiscreteScheduler config (scheduler/scheduler_config.json) as SD3 ships it.</summary>
public sealed record SchedulerConfig
{
    [JsonPropertyName("_class_name")] public string ClassName { get; init; } = "FlowMatchEulerDiscreteScheduler";
    [JsonPropertyName("_diffusers_version")] public string DiffusersVersion { get; init; } = "0.31.0";
    public int NumTrainTimesteps { get; init; } = 1000;
    public double Shift { get; init; } = 3.0;
    public bool UseDynamicShifting { get; init; }

    public SchedulerConfig Validate(string source)
    {
        ConfigJson.Require(ClassName == "FlowMatchEulerDiscreteScheduler", source, "_class_name",
            $"'{ClassName}' is not supported (expected FlowMatchEulerDiscreteScheduler)");
        ConfigJson.Require(NumTrainTimesteps > 0, source, "num_train_timesteps", $"must be positive (is {NumTrainTimesteps})");
        ConfigJson.Require(Shift > 0, source, "shift", $"must be positive (is {Shift})");
        return this;
    }
}
