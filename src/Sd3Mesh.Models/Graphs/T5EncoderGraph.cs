using Sd3Mesh.Models.Configs;
using Sd3Mesh.Models.Weights;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Graphs;

/// <summary>
/// transformers' T5EncoderModel (SD3's text_encoder_3: T5 v1.1 XXL): token embedding, pre-norm layers with
/// RMS norm (T5LayerNorm), unscaled self-attention plus a bucketed relative position bias computed once from
/// the first layer's table and shared by all layers, gated-GELU (or ReLU) feed-forward, final RMS norm.
///
/// Input: input_ids [batch, sequence] int64, any length. Output: last_hidden_state [batch, sequence, d_model].
///
/// fp16 graphs follow transformers' fp16 T5 (its _keep_in_fp32_modules = ["wo"]): the feed-forward output
/// projection wo is stored and computed in fp32 and the residual stream is fp32, which keeps T5-XXL's large
/// activations from overflowing; the other projections are fp16. With <c>int8</c> every projection is stored
/// int8 with per-output-channel scales and dequantized in the graph (weight-only quantization).
/// </summary>
public static class T5EncoderGraph
{
    public static void Define(ModelGraph m, T5EncoderConfig c, bool int8 = false)
    {
        var g = m.G;
        long d = c.DModel, inner = c.InnerDim, heads = c.NumHeads, dkv = c.DKv, dff = c.DFf;
        double f = c.InitializerFactor;
        var ids = g.Input("input_ids", DType.Int64, "batch", "sequence");

        var shared = m.Param("shared.weight", [c.VocabSize, d], WeightInit.Normal(f * 1.0));
        var h = m.ToFloat32(g.Gather(shared, ids)); // the residual stream is fp32 in fp16 graphs
        var positionBias = PositionBias(m, c, ids);

        // transformers' T5 initialization (T5PreTrainedModel._init_weights).
        var qInit = WeightInit.Normal(f * Math.Pow(d * dkv, -0.5));
        var kvInit = WeightInit.Normal(f * Math.Pow(d, -0.5));
        var oInit = WeightInit.Normal(f * Math.Pow(heads * dkv, -0.5));
        var wiInit = WeightInit.Normal(f * Math.Pow(d, -0.5));
        var woInit = WeightInit.Normal(f * Math.Pow(dff, -0.5));

        Value Project(Value x, string name, long inF, long outF, WeightInit init, DType compute) =>
            int8 ? m.QuantizedLinear(x, name, inF, outF, init, compute)
                 : compute == m.DType ? m.Linear(x, name, inF, outF, init, bias: false)
                 : ProjectIn(x, name, inF, outF, init, compute);

        Value ProjectIn(Value x, string name, long inF, long outF, WeightInit init, DType compute)
        {
            using var _ = m.Scope(name);
            return g.MatMul(x, m.LinearWeight("weight", inF, outF, init, compute));
        }

        for (int i = 0; i < c.NumLayers; i++)
        {
            using var block = m.Scope($"encoder.block.{i}");
            using (m.Scope("layer.0"))
            {
                var x = m.RmsNorm(h, "layer_norm", d, c.LayerNormEpsilon);
                using var _ = m.Scope("SelfAttention");
                var q = Project(x, "q", d, inner, qInit, m.DType);
                var k = Project(x, "k", d, inner, kvInit, m.DType);
                var v = Project(x, "v", d, inner, kvInit, m.DType);
                var a = m.MultiHeadAttention(q, k, v, heads, dkv, scale: null, positionBias);
                h = g.Add(h, m.ToFloat32(Project(a, "o", inner, d, oInit, m.DType)));
            }
            using (m.Scope("layer.1"))
            {
                var x = m.RmsNorm(h, "layer_norm", d, c.LayerNormEpsilon);
                using var _ = m.Scope("DenseReluDense");
                var hidden = c.Gated
                    ? g.Mul(m.Activation(Project(x, "wi_0", d, dff, wiInit, m.DType), c.Activation), Project(x, "wi_1", d, dff, wiInit, m.DType))
                    : m.Activation(Project(x, "wi", d, dff, wiInit, m.DType), c.Activation);
                h = g.Add(h, Project(m.ToFloat32(hidden), "wo", dff, d, woInit, DType.Float32));
            }
        }
        var last = m.RmsNorm(h, "encoder.final_layer_norm", d, c.LayerNormEpsilon);
        g.Output(last, "last_hidden_state", m.DType, "batch", "sequence", d);
    }

    /// <summary>
    /// [1, heads, L, L] fp32: relative_attention_bias[bucket(key - query)] from the first layer's table.
    /// Buckets come from a precomputed table over offsets -max_distance..max_distance (farther offsets share
    /// the end buckets), indexed by the clipped offsets, so any sequence length works.
    /// </summary>
    private static Value PositionBias(ModelGraph m, T5EncoderConfig c, Value ids)
    {
        var g = m.G;
        long maxDistance = c.RelativeAttentionMaxDistance;
        var length = g.Squeeze(m.DimOf(ids, 1), 0);
        var positions = g.Op("Range", [g.Constant(Tensor.Scalar(0L), "zero"), length, g.Constant(Tensor.Scalar(1L), "one")]);
        var relative = g.Sub(g.Unsqueeze(positions, 0), g.Unsqueeze(positions, 1)); // [query, key] = key - query
        var clipped = g.Op("Max", [g.Op("Min", [relative, g.Constant(Tensor.Scalar(maxDistance), "max_distance")]),
            g.Constant(Tensor.Scalar(-maxDistance), "min_distance")]);
        var table = g.Constant(Tensor.FromArray(PositionTables.T5BucketTable(c.RelativeAttentionNumBuckets, c.RelativeAttentionMaxDistance),
            2 * maxDistance + 1), "buckets");
        var buckets = g.Gather(table, g.Add(clipped, g.Constant(Tensor.Scalar(maxDistance), "offset")));
        Value weights;
        using (m.Scope("encoder.block.0.layer.0.SelfAttention.relative_attention_bias"))
            weights = m.Param("weight", [c.RelativeAttentionNumBuckets, c.NumHeads], WeightInit.Normal(c.InitializerFactor * Math.Pow(c.DModel, -0.5)));
        var bias = g.Gather(m.ToFloat32(weights), buckets);  // [L, L, heads]
        return g.Unsqueeze(g.Transpose(bias, 2, 0, 1), 0);
    }
}
