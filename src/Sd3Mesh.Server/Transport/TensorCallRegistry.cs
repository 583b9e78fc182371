namespace Sd3Mesh.Server.Transport;

/// <summary>A grain method: tensors in, tensors out.</summary>
public delegate Task<IReadOnlyList<NamedTensor>> TensorCallHandler(IReadOnlyList<NamedTensor> inputs, CancellationToken cancellationToken);

/// <summary>The grain methods this silo serves over the transport, by (grain, method).</summary>
public sealed class TensorCallRegistry
{
    private readonly Dictionary<(string Grain, string Method), TensorCallHandler> _handlers = [];

    public TensorCallRegistry Register(string grain, string method, TensorCallHandler handler)
    {
        lock (_handlers) _handlers[(grain, method)] = handler;
        return this;
    }

    public TensorCallHandler? Find(string grain, string method)
    {
        lock (_handlers) return _handlers.GetValueOrDefault((grain, method));
    }
}
