using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Tensors;

/// <summary>
/// How grains hand tensors to each other: the producer publishes a tensor and passes the <see cref="TensorRef"/> in
/// its grain call or reply; the consumer resolves it. Small tensors are inline; on the producer's silo the tensor is
/// taken from memory; elsewhere its bytes stream from the producer's silo over the gRPC tensor transport.
/// </summary>
public interface ITensorExchange
{
    /// <summary>This silo's name (as in the cluster config).</summary>
    string Silo { get; }

    /// <summary>A reference a grain call can carry; the tensor stays here until one reader resolves it (or it expires).</summary>
    TensorRef Publish(Tensor tensor);

    /// <summary>The tensor behind <paramref name="reference"/>, wherever it is; fails with a message naming the silo and size when it cannot be fetched.</summary>
    Task<Tensor> ResolveAsync(TensorRef reference, CancellationToken cancellationToken = default);
}
