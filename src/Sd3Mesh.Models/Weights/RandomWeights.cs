using System.Text;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Weights;

/// <summary>
/// Deterministic seeded weights: weight "name" is Philox stream FNV-1a-64(UTF-8 name) of the seed
/// (<see cref="SeededRandom"/>), so each weight is reproducible on its own, whatever the build order,
/// thread count or precision.
/// </summary>
public sealed class RandomWeights(ulong seed) : IWeightSource
{
    public ulong Seed { get; } = seed;

    /// <summary>
    /// Adds N(0, jitter) to constant initializations (norm weights 1, biases 0). Tests use it so that every
    /// weight is distinct and a swapped scale/shift or a forgotten bias changes the output.
    /// </summary>
    public double ConstantJitter { get; init; }

    public float[] Read(string name, TensorShape shape, WeightInit init)
    {
        var values = new float[shape.ElementCount];
        switch (init)
        {
            case NormalInit n:
                SeededRandom.FillNormalParallel(values, Seed, StreamOf(name));
                Scale(values, (float)n.Std, 0f);
                break;
            case UniformInit u:
                SeededRandom.FillUniformParallel(values, Seed, StreamOf(name));
                Scale(values, (float)(2 * u.Bound), (float)-u.Bound);
                break;
            case ConstantInit c when ConstantJitter > 0:
                SeededRandom.FillNormalParallel(values, Seed, StreamOf(name));
                Scale(values, (float)ConstantJitter, (float)c.Value);
                break;
            case ConstantInit c:
                Array.Fill(values, (float)c.Value);
                break;
            case ComputedInit c:
                var computed = c.Values();
                if (computed.Length != values.Length)
                    throw new InvalidOperationException($"computed weight '{name}' has {computed.Length} elements, its shape {shape} needs {values.Length}");
                return computed;
            default:
                throw new NotSupportedException($"weight '{name}': unknown initialization {init}");
        }
        return values;
    }

    public void Verify(IReadOnlyList<WeightRequest> requests) { }

    /// <summary>FNV-1a 64 of the UTF-8 name: the Philox stream of a weight.</summary>
    public static ulong StreamOf(string name)
    {
        ulong h = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(name))
        {
            h ^= b;
            h *= 1099511628211UL;
        }
        return h;
    }

    private static void Scale(float[] values, float scale, float offset)
    {
        System.Numerics.Tensors.TensorPrimitives.Multiply(values, scale, values);
        if (offset != 0) System.Numerics.Tensors.TensorPrimitives.Add(values, offset, values);
    }
}
