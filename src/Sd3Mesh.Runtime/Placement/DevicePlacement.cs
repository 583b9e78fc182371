using Orleans.Placement;
using Orleans.Runtime;

namespace Sd3Mesh.Runtime.Placement;

/// <summary>Places a grain keyed <c>NAME@DEVICE</c> (<see cref="DeviceKey"/>) on the silo that owns DEVICE.</summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking]
public sealed class DevicePlacement : PlacementStrategy
{
    public static readonly DevicePlacement Instance = new();
}

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class DevicePlacementAttribute() : PlacementAttribute(DevicePlacement.Instance);
