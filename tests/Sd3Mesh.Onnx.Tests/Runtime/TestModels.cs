using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Tests.Runtime;

/// <summary>Small models built with the project's ONNX writer, and the float64 math they should compute.</summary>
internal static class TestModels
{
    public static readonly float[] W = Enumerable.Range(0, 12).Select(i => (i - 5) * 0.25f).ToArray(); // [4, 3]
    public static readonly float[] B = [0.5f, -1f, 2f];

    /// <summary>y = x . W + b, x [batch, 4] (batch symbolic), W [4, 3], b [3].</summary>
    public static GraphBuilder MatMulAddGraph()
    {
        var g = new GraphBuilder("matmul_add");
        var x = g.Input("x", DType.Float32, "batch", 4);
        var y = g.Add(g.MatMul(x, g.Initializer("w", Tensor.FromArray(W, 4, 3))), g.Initializer("b", Tensor.FromArray(B, 3)));
        g.Output(y, "y", DType.Float32, "batch", 3);
        return g;
    }

    public static byte[] MatMulAdd() => MatMulAddGraph().Build().ToBytes();

    public static double[] MatMulAddReference(float[] x, int batch)
    {
        var xd = Array.ConvertAll(x, v => (double)v);
        var y = new double[batch * 3];
        for (int r = 0; r < batch; r++)
            for (int c = 0; c < 3; c++)
            {
                double s = B[c];
                for (int k = 0; k < 4; k++) s += xd[r * 4 + k] * W[k * 3 + c];
                y[r * 3 + c] = s;
            }
        return y;
    }

    /// <summary>Two inputs: y = a + b, a [batch, 4] float32, b [4] float32.</summary>
    public static byte[] TwoInputs()
    {
        var g = new GraphBuilder("two_inputs");
        var a = g.Input("a", DType.Float32, "batch", 4);
        var b = g.Input("b", DType.Float32, 4);
        g.Output(g.Add(a, b), "y", DType.Float32, "batch", 4);
        return g.Build().ToBytes();
    }

    /// <summary>
    /// A long chain of [n, n] MatMuls by the identity (values stay put), for cancellation: ONNX Runtime
    /// checks the terminate flag between nodes.
    /// </summary>
    public static byte[] LongChain(int n, int nodes)
    {
        var g = new GraphBuilder("long_chain");
        var identity = new float[n * n];
        for (int i = 0; i < n; i++) identity[i * n + i] = 1;
        var w = g.Initializer("identity", Tensor.FromArray(identity, n, n));
        var y = g.Input("x", DType.Float32, n, n);
        for (int i = 0; i < nodes; i++) y = g.MatMul(y, w);
        g.Output(y, "y", DType.Float32, n, n);
        return g.Build().ToBytes();
    }

    public static float[] Floats(int count, float scale = 1, ulong stream = 0)
    {
        var v = new float[count];
        SeededRandom.FillNormal(v, 42, stream);
        for (int i = 0; i < count; i++) v[i] *= scale;
        return v;
    }

    public static void AssertClose(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, double relativeTolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double allowed = relativeTolerance * Math.Max(1, Math.Abs(expected[i]));
            Assert.True(Math.Abs(actual[i] - expected[i]) <= allowed,
                $"element {i}: got {actual[i]}, expected {expected[i]} (tolerance {allowed:g3})");
        }
    }
}
