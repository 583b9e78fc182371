using System.Text.Json;

namespace Sd3Mesh.Pipeline.Sampling;

/// <summary>
/// diffusers' FlowMatchEulerDiscreteScheduler configuration (scheduler/scheduler_config.json). SD3
/// Medium uses num_train_timesteps 1000 and shift 3.0 with static shifting.
/// </summary>
public sealed record FlowMatchSchedulerConfig
{
    public int NumTrainTimesteps { get; init; } = 1000;
    public double Shift { get; init; } = 1.0;
    public bool UseDynamicShifting { get; init; }
    public double BaseShift { get; init; } = 0.5;
    public double MaxShift { get; init; } = 1.15;
    public int BaseImageSeqLen { get; init; } = 256;
    public int MaxImageSeqLen { get; init; } = 4096;
    public bool InvertSigmas { get; init; }
    public double? ShiftTerminal { get; init; }

    /// <summary>SD3 Medium's scheduler_config.json.</summary>
    public static FlowMatchSchedulerConfig Sd3Medium { get; } = new() { Shift = 3.0 };

    public static FlowMatchSchedulerConfig Load(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = doc.RootElement;
        if (root.TryGetProperty("_class_name", out var cls) && cls.GetString() is { } name && name != "FlowMatchEulerDiscreteScheduler")
            throw new InvalidDataException($"{path}: scheduler '{name}' is not supported; SD3 uses FlowMatchEulerDiscreteScheduler");
        foreach (var unsupported in new[] { "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas" })
            if (root.TryGetProperty(unsupported, out var v) && v.ValueKind == JsonValueKind.True)
                throw new InvalidDataException($"{path}: {unsupported} is not supported (SD3 uses the linear schedule)");

        var d = new FlowMatchSchedulerConfig();
        return d with
        {
            NumTrainTimesteps = Int(root, "num_train_timesteps") ?? d.NumTrainTimesteps,
            Shift = Double(root, "shift") ?? d.Shift,
            UseDynamicShifting = Bool(root, "use_dynamic_shifting") ?? d.UseDynamicShifting,
            BaseShift = Double(root, "base_shift") ?? d.BaseShift,
            MaxShift = Double(root, "max_shift") ?? d.MaxShift,
            BaseImageSeqLen = Int(root, "base_image_seq_len") ?? d.BaseImageSeqLen,
            MaxImageSeqLen = Int(root, "max_image_seq_len") ?? d.MaxImageSeqLen,
            InvertSigmas = Bool(root, "invert_sigmas") ?? d.InvertSigmas,
            ShiftTerminal = Double(root, "shift_terminal"),
        };
    }

    private static double? Double(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
    private static int? Int(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : null;
    private static bool? Bool(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : null;
}
