using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Tensors;

/// <summary>
/// A tensor as grain calls carry it. Small tensors travel inside the Orleans message (<see cref="Inline"/>);
/// large ones stay in their silo's <see cref="TensorStore"/> and the message carries only this reference:
/// a grain on the same silo takes the tensor from memory, a grain on another silo pulls its bytes over the
/// gRPC tensor transport (<see cref="Endpoint"/>). Orleans moves control; gRPC moves data.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TensorRef
{
    /// <summary>The store's id of the tensor (empty when inline).</summary>
    [Id(0)] public string Id { get; init; } = "";
    /// <summary>The silo that holds it.</summary>
    [Id(1)] public string Silo { get; init; } = "";
    /// <summary>That silo's gRPC endpoint.</summary>
    [Id(2)] public string Endpoint { get; init; } = "";
    /// <summary>ONNX element type code (<see cref="Sd3Mesh.Tensors.DType"/>).</summary>
    [Id(3)] public int DType { get; init; }
    [Id(4)] public long[] Shape { get; init; } = [];
    /// <summary>The bytes themselves, for tensors up to <see cref="TensorStore.InlineLimit"/>.</summary>
    [Id(5)] public byte[]? Inline { get; init; }

    public TensorShape TensorShape => new(Shape);
    public long ByteCount => new TensorShape(Shape).ElementCount * ((DType)DType).SizeOf();

    public override string ToString() =>
        $"{((DType)DType).Name()} {TensorShape}" + (Inline is null ? $" at {Silo}/{Id}" : " inline");
}
