using Orleans.Placement;
using Orleans.Runtime;

namespace Sd3Mesh.Runtime.Placement;

/// <summary>Places a grain keyed <c>NAME@DEVICE</c> (<see cref="DeviceKey"/>) on the silo that owns DEVICE.</summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking]
public sealed class DevicePlacementStrategy : PlacementStrategy
{
    public static readonly DevicePlacementStrategy Instance = new();
}

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class DevicePlacementAttribute() : PlacementAttribute(DevicePlacementStrategy.Instance);
