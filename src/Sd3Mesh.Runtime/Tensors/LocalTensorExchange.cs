using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Tensors;

/// <summary>
/// The exchange of a silo whose grains only meet grains of the same silo (one-silo clusters, in-process tests):
/// references resolve from this silo's <see cref="TensorStore"/>; a reference to another silo's tensor is an error.
/// </summary>
public sealed class LocalTensorExchange(TensorStore store) : ITensorExchange
{
    public string Silo => store.Silo;

    public TensorRef Publish(Tensor tensor) => store.Publish(tensor);

    public Task<Tensor> ResolveAsync(TensorRef reference, CancellationToken cancellationToken = default) =>
        Task.FromResult(TensorRefs.ResolveLocal(reference, store)
            ?? throw new InvalidOperationException($"{reference} is held by silo {reference.Silo}, and silo {Silo} has no tensor transport to fetch it"));
}
