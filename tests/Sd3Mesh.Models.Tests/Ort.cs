using Sd3Mesh.Models.Graphs;
using Sd3Mesh.Models.Weights;
using Sd3Mesh.Onnx;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Tests;

/// <summary>Runs built graphs with ONNX Runtime (CPU) for the numeric tests.</summary>
internal static class Ort
{
    public static IReadOnlyDictionary<string, Tensor> Run(OnnxModel model, IReadOnlyDictionary<string, Tensor> inputs)
    {
        using var session = OnnxSession.Create(model.ToBytes());
        return session.Run(inputs);
    }

    public static OnnxSession Open(string modelPath) => OnnxSession.Create(modelPath);

    /// <summary>A graph built by <paramref name="define"/> (fp32, jittered seeded weights) and its weights for the references.</summary>
    public static (OnnxModel Model, Reference.RefWeights Weights) Build(Action<ModelGraph> define, ulong seed = 1, DType dtype = DType.Float32,
        AttentionKernel attention = AttentionKernel.MatMulSoftmax, int maxHeadsPerGroup = 8)
    {
        var m = new ModelGraph(new GraphBuilder("test", Sd3Graphs.Opset), dtype, new RandomWeights(seed) { ConstantJitter = 0.1 }, attention)
        {
            MaxHeadsPerGroup = maxHeadsPerGroup,
        };
        define(m);
        var model = m.G.Build();
        return (model, new Reference.RefWeights(model));
    }

    public static Tensor Normal(ulong seed, params long[] shape)
    {
        var v = new float[new TensorShape(shape).ElementCount];
        SeededRandom.FillNormal(v, seed, 99);
        return Tensor.FromArray(v, shape);
    }

    /// <summary>Sample <paramref name="index"/> (along axis 0) as float64.</summary>
    public static double[] Sample(Tensor t, int index)
    {
        var f = t.ToFloatArray();
        int per = (int)(t.ElementCount / t.Shape[0]);
        return f.AsSpan(index * per, per).ToArray().Select(v => (double)v).ToArray();
    }

    public static float[] SampleF(Tensor t, int index)
    {
        var f = t.ToFloatArray();
        int per = (int)(t.ElementCount / t.Shape[0]);
        return f.AsSpan(index * per, per).ToArray();
    }
}
