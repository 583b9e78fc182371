using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Tensors;

public static class TensorRefs
{
    /// <summary>
    /// The tensor when it needs no transport: inline bytes, or a tensor of <paramref name="store"/>'s silo (taken out
    /// of the store); null when it lives on another silo. A tensor of this silo that is no longer in the store
    /// (already taken, or expired) is an error naming it.
    /// </summary>
    public static Tensor? ResolveLocal(TensorRef reference, TensorStore store)
    {
        if (reference.Inline is { } bytes) return new Tensor((DType)reference.DType, reference.TensorShape, bytes);
        if (reference.Silo != store.Silo) return null;
        return store.Take(reference.Id)
            ?? throw new InvalidOperationException($"{reference} is no longer held by silo {store.Silo} (taken already, or expired after {store.Lifetime})");
    }
}
