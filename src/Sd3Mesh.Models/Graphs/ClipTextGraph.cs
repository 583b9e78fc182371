using Sd3Mesh.Models.Configs;
using Sd3Mesh.Models.Weights;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Graphs;

/// <summary>
/// transformers' CLIPTextModelWithProjection (text_encoder: CLIP ViT-L/14, text_encoder_2: OpenCLIP bigG/14):
/// token + position embeddings, pre-norm encoder layers with causal self-attention, final layer norm, and the
/// projection of the hidden state at the EOS token.
///
/// Inputs: input_ids [batch, sequence] int64 (sequence &lt;= max_position_embeddings, 77 for SD3).
/// Outputs (optimum's names): text_embeds [batch, projection_dim], last_hidden_state [batch, sequence, hidden]
/// (after the final layer norm), hidden_states.0 .. hidden_states.N (embeddings, then each layer's output,
/// before the final norm: what output_hidden_states=True returns).
/// </summary>
public static class ClipTextGraph
{
    public static void Define(ModelGraph m, ClipTextConfig c)
    {
        var g = m.G;
        long d = c.HiddenSize, layers = c.NumHiddenLayers, heads = c.NumAttentionHeads, headDim = c.HeadDim;
        var ids = g.Input("input_ids", DType.Int64, "batch", "sequence");
        var length = m.DimOf(ids, 1);

        Value h;
        using (m.Scope("text_model.embeddings"))
        {
            var tokens = m.Param("token_embedding.weight", [c.VocabSize, d], WeightInit.Normal(0.02 * c.InitializerFactor));
            var positions = m.Param("position_embedding.weight", [c.MaxPositionEmbeddings, d], WeightInit.Normal(0.02 * c.InitializerFactor));
            h = g.Add(g.Gather(tokens, ids), m.Slice(positions, g.Int64s(0), length, [0]));
        }
        var outputs = new List<Value> { h };

        // Causal mask (transformers adds the dtype's minimum above the diagonal), sliced to the sequence.
        var mask = CausalMask(g, c.MaxPositionEmbeddings);
        var mask2 = m.Slice(mask, g.Int64s(0, 0), g.Concat(0, length, length), [0, 1]);

        // transformers' CLIP initialization (CLIPPreTrainedModel._init_weights).
        double f = c.InitializerFactor;
        var inProj = WeightInit.Normal(Math.Pow(d, -0.5) * Math.Pow(2 * layers, -0.5) * f);
        var outProj = WeightInit.Normal(Math.Pow(d, -0.5) * f);
        var fc1 = WeightInit.Normal(Math.Pow(2 * d, -0.5) * f);

        for (int i = 0; i < layers; i++)
        {
            using var layer = m.Scope($"text_model.encoder.layers.{i}");
            var x = m.LayerNorm(h, "layer_norm1", d, c.LayerNormEps);
            using (m.Scope("self_attn"))
            {
                var q = m.Linear(x, "q_proj", d, d, inProj);
                var k = m.Linear(x, "k_proj", d, d, inProj);
                var v = m.Linear(x, "v_proj", d, d, inProj);
                var a = m.MultiHeadAttention(q, k, v, heads, headDim, Math.Pow(headDim, -0.5), mask2);
                h = g.Add(h, m.Linear(a, "out_proj", d, d, outProj));
            }
            x = m.LayerNorm(h, "layer_norm2", d, c.LayerNormEps);
            using (m.Scope("mlp"))
            {
                var up = m.Activation(m.Linear(x, "fc1", d, c.IntermediateSize, fc1), c.HiddenAct);
                h = g.Add(h, m.Linear(up, "fc2", c.IntermediateSize, d, inProj));
            }
            outputs.Add(h);
        }

        var last = m.LayerNorm(h, "text_model.final_layer_norm", d, c.LayerNormEps);
        var pooled = PoolAtEos(m, ids, last, c.EosTokenId, d);
        var projected = m.Linear(pooled, "text_projection", d, c.ProjectionDim, WeightInit.Normal(Math.Pow(d, -0.5) * f), bias: false);

        g.Output(projected, "text_embeds", m.DType, "batch", c.ProjectionDim);
        g.Output(last, "last_hidden_state", m.DType, "batch", "sequence", d);
        for (int i = 0; i < outputs.Count; i++)
            g.Output(outputs[i], $"hidden_states.{i}", m.DType, "batch", "sequence", d);
    }

    /// <summary>[P, P] fp32: 0 on and below the diagonal, float32's minimum above it.</summary>
    private static Value CausalMask(GraphBuilder g, int positions)
    {
        var mask = new float[positions * positions];
        for (int i = 0; i < positions; i++)
            for (int j = i + 1; j < positions; j++)
                mask[i * positions + j] = float.MinValue;
        return g.Constant(Tensor.FromArray(mask, positions, positions), "causal_mask");
    }

    /// <summary>
    /// The hidden state at the EOS token, as transformers finds it: with the legacy eos_token_id 2, the position of
    /// the largest id (the EOS id is the largest in CLIP's vocabulary); otherwise the first position equal to it.
    /// </summary>
    private static Value PoolAtEos(ModelGraph m, Value ids, Value last, int eosTokenId, long d)
    {
        var g = m.G;
        var key = eosTokenId == 2
            ? g.Cast(ids, DType.Int32)
            : g.Cast(g.Equal(ids, g.Constant(Tensor.Scalar((long)eosTokenId), "eos")), DType.Int32);
        var index = g.Op("ArgMax", [key], ("axis", 1L), ("keepdims", 1L), ("select_last_index", 0L)); // [B, 1]
        var gatherShape = g.Concat(0, m.DimOf(ids, 0), g.Int64s(1, d));
        var expanded = g.Expand(g.Unsqueeze(index, 2), gatherShape);                                   // [B, 1, D]
        var row = g.Op("GatherElements", [last, expanded], ("axis", 1L));
        return g.Squeeze(row, 1);
    }
}
