using Sd3Mesh.Models.Configs;

namespace Sd3Mesh.Models.Tests.Reference;

/// <summary>transformers' CLIPTextModelWithProjection in float64, one sequence at a time.</summary>
public static class RefClip
{
    public sealed record Result(List<double[]> HiddenStates, double[] LastHiddenState, double[] TextEmbeds, int EosIndex);

    public static Result Forward(RefWeights w, ClipTextConfig c, long[] ids)
    {
        int l = ids.Length, d = c.HiddenSize, heads = c.NumAttentionHeads, hd = c.HeadDim;
        var tok = w["text_model.embeddings.token_embedding.weight"];
        var pos = w["text_model.embeddings.position_embedding.weight"];
        var h = new double[l * d];
        for (int i = 0; i < l; i++)
            for (int k = 0; k < d; k++) h[i * d + k] = tok[ids[i] * d + k] + pos[i * d + k];
        var states = new List<double[]> { h };
        Func<double, double> act = c.HiddenAct switch { "quick_gelu" => Ref.QuickGelu, "gelu" => Ref.Gelu, _ => Ref.GeluTanh };

        for (int i = 0; i < c.NumHiddenLayers; i++)
        {
            var p = $"text_model.encoder.layers.{i}";
            var x = Ref.LayerNorm(h, l, d, c.LayerNormEps, w[$"{p}.layer_norm1.weight"], w[$"{p}.layer_norm1.bias"]);
            var q = Ref.Linear(w, $"{p}.self_attn.q_proj", x, l, d, d);
            var k = Ref.Linear(w, $"{p}.self_attn.k_proj", x, l, d, d);
            var v = Ref.Linear(w, $"{p}.self_attn.v_proj", x, l, d, d);
            var a = Ref.Attention(q, k, v, l, l, heads, hd, 1 / Math.Sqrt(hd), (_, qi, kj) => kj > qi ? double.NegativeInfinity : 0); // causal
            h = Ref.Add(h, Ref.Linear(w, $"{p}.self_attn.out_proj", a, l, d, d));
            x = Ref.LayerNorm(h, l, d, c.LayerNormEps, w[$"{p}.layer_norm2.weight"], w[$"{p}.layer_norm2.bias"]);
            h = Ref.Add(h, Ref.Linear(w, $"{p}.mlp.fc2", Ref.Map(Ref.Linear(w, $"{p}.mlp.fc1", x, l, d, c.IntermediateSize), act), l, c.IntermediateSize, d));
            states.Add(h);
        }
        var last = Ref.LayerNorm(h, l, d, c.LayerNormEps, w["text_model.final_layer_norm.weight"], w["text_model.final_layer_norm.bias"]);
        int eos = EosIndex(ids, c.EosTokenId);
        var embeds = Ref.Linear(Ref.Rows(last, d, eos, 1), 1, d, c.ProjectionDim, w["text_projection.weight"], null);
        return new Result(states, last, embeds, eos);
    }

    /// <summary>transformers: argmax(input_ids) when eos_token_id == 2 (legacy configs), else the first position holding eos_token_id.</summary>
    public static int EosIndex(long[] ids, int eosTokenId)
    {
        int best = 0;
        for (int i = 0; i < ids.Length; i++)
        {
            if (eosTokenId == 2) { if (ids[i] > ids[best]) best = i; }
            else if (ids[i] == eosTokenId) return i;
        }
        return best;
    }
}
