using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Tests.Reference;

/// <summary>
/// A built model's initializers as float64 arrays, by name, for the reference implementations. Linear weights
/// are in the graph's stored layout [in, out] (see ModelGraph); <see cref="Has"/> answers whether a weight exists.
/// </summary>
public sealed class RefWeights
{
    private readonly Dictionary<string, (long[] Shape, double[] Data)> _w = new(StringComparer.Ordinal);

    public RefWeights(OnnxModel model)
    {
        foreach (var init in model.Initializers)
        {
            var t = init.Source();
            if (!t.DType.IsFloatingPoint()) continue;
            var f = t.ToFloatArray();
            _w[init.Name] = (t.Shape.ToArray(), Array.ConvertAll(f, v => (double)v));
        }
    }

    public bool Has(string name) => _w.ContainsKey(name);
    public double[] this[string name] => _w.TryGetValue(name, out var w) ? w.Data : throw new KeyNotFoundException($"no weight '{name}'");
    public long[] Shape(string name) => _w[name].Shape;
}
