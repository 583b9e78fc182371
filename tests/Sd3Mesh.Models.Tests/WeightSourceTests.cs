using Sd3Mesh.Models.Graphs;
using Sd3Mesh.Models.Weights;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Tests;

public sealed class WeightSourceTests
{
    [Fact]
    public void Random_weights_depend_only_on_seed_and_name()
    {
        var a = new RandomWeights(7).Read("x.weight", new TensorShape(300, 7), WeightInit.Normal(0.5));
        var b = new RandomWeights(7).Read("x.weight", new TensorShape(2100), WeightInit.Normal(0.5));
        var c = new RandomWeights(8).Read("x.weight", new TensorShape(2100), WeightInit.Normal(0.5));
        var d = new RandomWeights(7).Read("y.weight", new TensorShape(2100), WeightInit.Normal(0.5));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.NotEqual(a, d);
        // Element i is Philox element i of stream FNV-1a("x.weight"), scaled by the std.
        var expected = new float[2100];
        SeededRandom.FillNormal(expected, 7, RandomWeights.StreamOf("x.weight"));
        Assert.Equal(expected.Select(v => v * 0.5f), a);
        double std = Math.Sqrt(a.Average(v => (double)v * v));
        Assert.InRange(std, 0.47, 0.53);
    }

    [Fact]
    public void Fnv1a_stream_ids_match_the_published_algorithm()
    {
        Assert.Equal(0xcbf29ce484222325UL, RandomWeights.StreamOf(""));
        Assert.Equal(0xaf63dc4c8601ec8cUL, RandomWeights.StreamOf("a"));
        Assert.Equal(0x85944171f73967e8UL, RandomWeights.StreamOf("foobar"));
    }

    [Fact]
    public void Constants_are_exact_unless_jittered()
    {
        Assert.All(new RandomWeights(1).Read("n.weight", new TensorShape(5), WeightInit.Ones), v => Assert.Equal(1f, v));
        var jittered = new RandomWeights(1) { ConstantJitter = 0.1 }.Read("n.weight", new TensorShape(1000), WeightInit.Ones);
        Assert.InRange(jittered.Average(), 0.99, 1.01);
        Assert.InRange(jittered.Max(), 1.2, 1.5);
    }

    [Fact]
    public void Int8_quantization_is_symmetric_per_output_channel()
    {
        // PyTorch layout [out 2, in 3]; stored [in 3, out 2].
        float[] w = [1f, -0.5f, 0.25f, /* row 1 */ 0f, 0.01f, -0.04f];
        var (q, scales) = Int8Quantizer.Quantize(w, 2, 3);
        Assert.Equal([1f / 127, 0.04f / 127], scales);
        Assert.Equal(new sbyte[] { 127, 0, -64, 32, 32, -127 }, q); // -0.5 * 127 = -63.5 rounds to even (-64); 0.01 / (0.04 / 127) = 31.75
    }

    [Fact]
    public void Linear_weights_are_transposed_exactly()
    {
        var a = Enumerable.Range(0, 70 * 130).Select(i => (float)i).ToArray();
        var t = ModelGraph.Transpose(a, 70, 130);
        for (int i = 0; i < 70; i++)
            for (int j = 0; j < 130; j++)
                Assert.Equal(a[i * 130 + j], t[j * 70 + i]);
    }
}
