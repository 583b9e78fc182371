using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Weights;

/// <summary>
/// Where a graph's weights come from: seeded random numbers or a checkpoint. Weights are asked for by their
/// diffusers/transformers state-dict name in PyTorch layout (Linear weights [out, in]) and returned as
/// float32, one at a time, so building a graph never holds more than one weight in memory.
/// </summary>
public interface IWeightSource
{
    /// <summary>The elements of <paramref name="name"/> (shape <paramref name="shape"/>, row-major) as a new float32 array.</summary>
    float[] Read(string name, TensorShape shape, WeightInit init);

    /// <summary>Checks that every requested weight exists with the right shape, before anything is written.</summary>
    void Verify(IReadOnlyList<WeightRequest> requests);
}
