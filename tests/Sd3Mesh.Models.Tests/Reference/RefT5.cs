using Sd3Mesh.Models.Configs;

namespace Sd3Mesh.Models.Tests.Reference;

/// <summary>T5's encoder (transformers' T5EncoderModel) in float64, one sequence at a time.</summary>
public static class RefT5
{
    /// <summary>
    /// T5's relative position bucket, from the paper's definition: half the buckets for keys after the query;
    /// offsets below half a side's buckets are exact, larger ones log-spaced up to max_distance, then the last bucket.
    /// </summary>
    public static int Bucket(int relative, int buckets, int maxDistance)
    {
        int half = buckets / 2, exact = half / 2;
        int side = relative > 0 ? half : 0;
        int n = Math.Abs(relative);
        if (n < exact) return side + n;
        int log = exact + (int)Math.Floor(Math.Log((double)n / exact) / Math.Log((double)maxDistance / exact) * (half - exact));
        return side + Math.Min(log, half - 1);
    }

    public static double[] Forward(RefWeights w, T5EncoderConfig c, long[] ids)
    {
        int l = ids.Length, d = c.DModel, inner = c.InnerDim, heads = c.NumHeads;
        var shared = w["shared.weight"];
        var h = new double[l * d];
        for (int i = 0; i < l; i++) Array.Copy(shared, ids[i] * d, h, i * d, d);
        var table = w["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]; // [buckets, heads]
        double Bias(int head, int q, int k) => table[Bucket(k - q, c.RelativeAttentionNumBuckets, c.RelativeAttentionMaxDistance) * heads + head];

        for (int i = 0; i < c.NumLayers; i++)
        {
            var p = $"encoder.block.{i}.layer";
            var x = Ref.RmsNorm(h, l, d, c.LayerNormEpsilon, w[$"{p}.0.layer_norm.weight"]);
            var q = Ref.Linear(w, $"{p}.0.SelfAttention.q", x, l, d, inner);
            var k = Ref.Linear(w, $"{p}.0.SelfAttention.k", x, l, d, inner);
            var v = Ref.Linear(w, $"{p}.0.SelfAttention.v", x, l, d, inner);
            var a = Ref.Attention(q, k, v, l, l, heads, c.DKv, scale: 1.0, Bias); // T5 does not scale scores
            h = Ref.Add(h, Ref.Linear(w, $"{p}.0.SelfAttention.o", a, l, inner, d));

            x = Ref.RmsNorm(h, l, d, c.LayerNormEpsilon, w[$"{p}.1.layer_norm.weight"]);
            var gate = Ref.Map(Ref.Linear(w, $"{p}.1.DenseReluDense.wi_0", x, l, d, c.DFf), Ref.GeluTanh);
            var up = Ref.Mul(gate, Ref.Linear(w, $"{p}.1.DenseReluDense.wi_1", x, l, d, c.DFf));
            h = Ref.Add(h, Ref.Linear(w, $"{p}.1.DenseReluDense.wo", up, l, c.DFf, d));
        }
        return Ref.RmsNorm(h, l, d, c.LayerNormEpsilon, w["encoder.final_layer_norm.weight"]);
    }
}
