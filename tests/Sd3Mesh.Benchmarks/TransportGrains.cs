using System.Runtime.InteropServices;
using Sd3Mesh.Runtime.Placement;
using Sd3Mesh.Runtime.Tensors;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Benchmarks;

/// <summary>Hands out one cached tensor of a given size three ways: as byte[], as float[], or published with a TensorRef.</summary>
public interface ITensorSourceGrain : IGrainWithStringKey
{
    Task<byte[]> Bytes(int bytes);
    Task<float[]> Floats(int bytes);
    Task<TensorRef> Reference(int bytes);
}

/// <summary>Takes a tensor from a source grain and answers its byte count, so the tensor crosses only source -> sink.</summary>
public interface ITensorSinkGrain : IGrainWithStringKey
{
    Task<long> PullBytes(string source, int bytes);
    Task<long> PullFloats(string source, int bytes);
    Task<long> PullReference(string source, int bytes);
}

[DevicePlacement]
public sealed class TensorSourceGrain(ITensorExchange tensors) : Grain, ITensorSourceGrain
{
    private float[] _values = [];
    private byte[] _bytes = [];

    /// <summary>Random values made once per size (as a submodule's output would already be in memory).</summary>
    private float[] Values(int bytes)
    {
        if (_values.Length * sizeof(float) != bytes)
        {
            _values = new float[bytes / sizeof(float)];
            new Random(bytes).NextBytes(MemoryMarshal.AsBytes(_values.AsSpan()));
            _bytes = MemoryMarshal.AsBytes(_values.AsSpan()).ToArray();
        }
        return _values;
    }

    public Task<byte[]> Bytes(int bytes)
    {
        Values(bytes);
        return Task.FromResult(_bytes);
    }

    public Task<float[]> Floats(int bytes) => Task.FromResult(Values(bytes));

    public Task<TensorRef> Reference(int bytes) => Task.FromResult(tensors.Publish(Tensor.FromArray(Values(bytes), bytes / sizeof(float))));
}

[DevicePlacement]
public sealed class TensorSinkGrain(ITensorExchange tensors) : Grain, ITensorSinkGrain
{
    private ITensorSourceGrain Source(string key) => GrainFactory.GetGrain<ITensorSourceGrain>(key);

    public async Task<long> PullBytes(string source, int bytes) => (await Source(source).Bytes(bytes)).LongLength;

    public async Task<long> PullFloats(string source, int bytes) => (await Source(source).Floats(bytes)).LongLength * sizeof(float);

    public async Task<long> PullReference(string source, int bytes) =>
        (await tensors.ResolveAsync(await Source(source).Reference(bytes))).ByteCount;
}
