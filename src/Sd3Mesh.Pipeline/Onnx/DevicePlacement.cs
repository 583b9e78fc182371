using Sd3Mesh.Models;
using Sd3Mesh.Onnx;

namespace Sd3Mesh.Pipeline.Onnx;

/// <summary>
/// Which device each SD3 submodule's session runs on in the one-process model: a default device, per-submodule
/// exceptions, and, for split classifier-free guidance, the device of the negative (unconditional) transformer pass
/// (a second transformer session there, so the two passes of a step overlap). Written as text:
/// <c>text_encoder=cpu:1,text_encoder_3=cpu:2,transformer_uncond=cuda:1</c>, the rest on the default device.
/// </summary>
public sealed record DevicePlacement
{
    /// <summary>The key of the negative transformer pass's device in <see cref="Parse"/>.</summary>
    public const string UncondTransformerKey = "transformer_uncond";

    public Device Default { get; init; } = Device.Cpu;

    public IReadOnlyDictionary<Submodule, Device> Submodules { get; init; } = new Dictionary<Submodule, Device>();

    /// <summary>Split guidance's negative pass runs on this device (null: the transformer's).</summary>
    public Device? UncondTransformer { get; init; }

    public Device For(Submodule submodule) => Submodules.TryGetValue(submodule, out var device) ? device : Default;

    /// <summary>Every submodule on <paramref name="device"/>.</summary>
    public static DevicePlacement All(Device device) => new() { Default = device };

    public static implicit operator DevicePlacement(Device device) => All(device);

    /// <summary>
    /// Reads "submodule=device,..." (submodules by folder name, or transformer_uncond) on top of
    /// <paramref name="defaultDevice"/>; an empty text places everything there. Errors name the entry and what is allowed.
    /// </summary>
    public static DevicePlacement Parse(string? text, Device defaultDevice)
    {
        var submodules = new Dictionary<Submodule, Device>();
        Device? uncond = null;
        foreach (var entry in (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = entry.IndexOf('=');
            if (eq <= 0)
                throw new FormatException($"placement entry '{entry}' is not submodule=device (e.g. text_encoder=cpu:1)");
            string key = entry[..eq].Trim();
            string value = entry[(eq + 1)..].Trim();
            if (!Device.TryParse(value, out var device))
                throw new FormatException($"placement entry '{entry}': unknown device '{value}': expected {Device.AcceptedForms}");
            if (key == UncondTransformerKey)
            {
                uncond = device;
                continue;
            }
            var submodule = Models.Submodules.All.Cast<Submodule?>().FirstOrDefault(s => s!.Value.FolderName() == key)
                ?? throw new FormatException($"placement entry '{entry}': unknown submodule '{key}': expected one of " +
                                             $"{string.Join(", ", Models.Submodules.All.Select(s => s.FolderName()))} or {UncondTransformerKey}");
            submodules[submodule] = device;
        }
        return new DevicePlacement { Default = defaultDevice, Submodules = submodules, UncondTransformer = uncond };
    }

    /// <summary>Every device this placement uses.</summary>
    public IReadOnlyList<Device> Devices =>
        [.. new[] { Default }.Concat(Submodules.Values).Concat(UncondTransformer is { } u ? [u] : []).Distinct()];

    /// <summary>E.g. "cpu:0" or "cpu:0; text_encoder=cpu:1, transformer_uncond=cpu:1".</summary>
    public override string ToString()
    {
        var parts = Submodules.OrderBy(kv => kv.Key).Where(kv => kv.Value != Default).Select(kv => $"{kv.Key.FolderName()}={kv.Value}").ToList();
        if (UncondTransformer is { } u) parts.Add($"{UncondTransformerKey}={u}");
        return parts.Count == 0 ? Default.ToString() : $"{Default}; {string.Join(", ", parts)}";
    }
}
