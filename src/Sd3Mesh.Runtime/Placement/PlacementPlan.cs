using Sd3Mesh.Models;
using Sd3Mesh.Onnx;
using Sd3Mesh.Runtime.Config;

namespace Sd3Mesh.Runtime.Placement;

/// <summary>
/// The grains a cluster config places, with their keys, devices and weight sizes; and the one check that needs
/// the model's files: does each grain fit its device's memory budget. A grain larger than its budget is refused
/// (naming the submodule, its size, the device and the budget); grains that fit one at a time but not together
/// are allowed and are offloaded in turn (<see cref="Warnings"/> says so).
/// </summary>
public sealed class PlacementPlan
{
    private PlacementPlan(IReadOnlyList<PlacedGrain> grains, IReadOnlyList<string> warnings)
    {
        Grains = grains;
        Warnings = warnings;
    }

    public IReadOnlyList<PlacedGrain> Grains { get; }
    public IReadOnlyList<string> Warnings { get; }

    /// <param name="modelId">names the model in grain keys, so that two models can share a cluster</param>
    /// <param name="weightBytes">the weights of a model folder (null: the model lacks it)</param>
    /// <param name="budget">a device's memory budget (the config's, else what the device reports; null: unknown)</param>
    public static PlacementPlan Create(ClusterConfig config, string modelId, Func<Submodule, long?> weightBytes, Func<Device, long?> budget)
    {
        var errors = new List<string>();
        var grains = new List<PlacedGrain>();
        foreach (var (submodule, devices) in config.Placement.OrderBy(p => p.Key))
        {
            long bytes = 0;
            bool present = false;
            foreach (var m in submodule.Models())
                if (weightBytes(m) is long b) { bytes += b; present = true; }
            if (!present)
            {
                if (submodule == PlacedSubmodule.TextEncoder3) continue; // a model without T5: its embeddings are zeros
                errors.Add($"placement.{submodule.Name()}: the model has no {string.Join(" or ", submodule.Models().Select(m => m.FolderName()))}");
                continue;
            }
            for (int replica = 0; replica < devices.Count; replica++)
            {
                var device = devices[replica];
                if (budget(device) is long limit && bytes > limit)
                    errors.Add($"placement.{submodule.Name()}: its weights ({ByteSize.Format(bytes)}) exceed {device}'s memory budget ({ByteSize.Format(limit)})");
                grains.Add(new PlacedGrain(submodule, replica, new DeviceKey($"{modelId}/{submodule.Name()}", device),
                    config.OwnerOf(device).Name, bytes));
            }
        }
        foreach (var (submodule, device) in config.Fallback)
            if (grains.FirstOrDefault(g => g.Submodule == submodule) is { } grain && budget(device) is long limit && grain.WeightBytes > limit)
                errors.Add($"fallback.{submodule.Name()}: its weights ({ByteSize.Format(grain.WeightBytes)}) exceed {device}'s memory budget ({ByteSize.Format(limit)})");
        if (errors.Count > 0) throw new ClusterConfigException(config.Name, errors);

        var warnings = new List<string>();
        foreach (var group in grains.GroupBy(g => g.Key.Device))
        {
            long total = group.Sum(g => g.WeightBytes);
            if (budget(group.Key) is long limit && total > limit)
                warnings.Add($"{group.Key} holds {string.Join(", ", group.Select(g => g.Submodule.Name()))} ({ByteSize.Format(total)}) " +
                    $"over its memory budget ({ByteSize.Format(limit)}): they will be offloaded and loaded again between stages");
        }
        return new PlacementPlan(grains, warnings);
    }

    public PlacedGrain Single(PlacedSubmodule submodule) => Grains.Single(g => g.Submodule == submodule);
    public IReadOnlyList<PlacedGrain> Replicas(PlacedSubmodule submodule) => Grains.Where(g => g.Submodule == submodule).ToArray();
    public bool Has(PlacedSubmodule submodule) => Grains.Any(g => g.Submodule == submodule);
}

/// <summary>One grain of the plan: which submodule (and which replica of it), its key (model, device), its silo and weights.</summary>
public sealed record PlacedGrain(PlacedSubmodule Submodule, int Replica, DeviceKey Key, string Silo, long WeightBytes);
