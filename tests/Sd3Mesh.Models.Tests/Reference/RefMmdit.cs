using Sd3Mesh.Models.Configs;

namespace Sd3Mesh.Models.Tests.Reference;

/// <summary>SD3's MMDiT in float64, one sample at a time, from diffusers' math.</summary>
public static class RefMmdit
{
    public sealed record BlockSpec(int Dim, int Heads, int HeadDim, bool ContextPreOnly, bool Dual, bool QkNorm);

    /// <summary>
    /// get_timestep_embedding(t, 256, flip_sin_to_cos=True, downscale_freq_shift=0): [cos(t f_i), sin(t f_i)],
    /// f_i = exp(-ln(10000) i / 128). As in diffusers, f_i and the product t * f_i are float32 values.
    /// </summary>
    public static double[] TimestepSinusoid(double t, int dim = 256)
    {
        int half = dim / 2;
        var e = new double[dim];
        for (int i = 0; i < half; i++)
        {
            float f = MathF.Exp((float)-Math.Log(10000) * i / half);
            double arg = (float)t * f; // float32 product, as torch computes it
            arg = (float)arg;
            e[i] = Math.Cos(arg);
            e[half + i] = Math.Sin(arg);
        }
        return e;
    }

    public static double[] Mlp2(RefWeights w, string prefix, double[] x, int inF, int d) =>
        Ref.Linear(w, prefix + ".linear_2", Ref.Map(Ref.Linear(w, prefix + ".linear_1", x, 1, inF, d), Ref.Silu), 1, d, d);

    public static double[] TimeTextEmbed(RefWeights w, double t, double[] pooled, int d, int pooledDim) =>
        Ref.Add(Mlp2(w, "time_text_embed.timestep_embedder", TimestepSinusoid(t), 256, d),
                Mlp2(w, "time_text_embed.text_embedder", pooled, pooledDim, d));

    /// <summary>
    /// The 2-D sin-cos position embedding for the centered h x w crop of a max x max grid, from the formula:
    /// token (i, j) of the crop sits at grid (top + i, left + j); its first half encodes the column, the second the
    /// row, each as [sin(c w_k), cos(c w_k)] with w_k = 10000^(-k / (D/4)) and c = index / (max / base) (float32 as numpy).
    /// </summary>
    public static double[] PositionCrop(int d, int max, int baseSize, int h, int wd)
    {
        int top = (max - h) / 2, left = (max - wd) / 2, q = d / 4;
        var e = new double[h * wd * d];
        double Coord(int index) => (float)((float)index / (float)(max / (double)baseSize));
        for (int i = 0; i < h; i++)
            for (int j = 0; j < wd; j++)
                for (int k = 0; k < q; k++)
                {
                    double omega = Math.Pow(10000, -(double)k / q);
                    int o = (i * wd + j) * d;
                    e[o + k] = Math.Sin(Coord(left + j) * omega);
                    e[o + q + k] = Math.Cos(Coord(left + j) * omega);
                    e[o + 2 * q + k] = Math.Sin(Coord(top + i) * omega);
                    e[o + 3 * q + k] = Math.Cos(Coord(top + i) * omega);
                }
        return e;
    }

    /// <summary>Conv(kernel = stride = p) over latent [C, H, W] -> tokens [h*w, D] (row-major over the patch grid) + positions.</summary>
    public static double[] PatchEmbed(RefWeights w, Sd3TransformerConfig c, double[] latent, int height, int width)
    {
        int p = c.PatchSize, d = c.InnerDim;
        var conv = Ref.Conv2d(latent, c.InChannels, height, width, w["pos_embed.proj.weight"], w["pos_embed.proj.bias"], d, p, p, 0, 0, 0, 0,
            out int h, out int wd);
        var tokens = new double[h * wd * d];
        for (int ch = 0; ch < d; ch++)
            for (int t = 0; t < h * wd; t++)
                tokens[t * d + ch] = conv[ch * h * wd + t];
        return Ref.Add(tokens, PositionCrop(d, c.PosEmbedMaxSize, c.SampleSize / p, h, wd));
    }

    private static double[][] Chunks(double[] emb, int d, int count) =>
        Enumerable.Range(0, count).Select(i => emb.AsSpan(i * d, d).ToArray()).ToArray();

    /// <summary>LayerNorm (no affine, eps 1e-6), then x (1 + scale) + shift per token.</summary>
    public static double[] NormModulate(double[] x, int n, int d, double[] scale, double[] shift)
    {
        var y = Ref.LayerNorm(x, n, d, 1e-6);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < d; k++)
                y[i * d + k] = y[i * d + k] * (1 + scale[k]) + shift[k];
        return y;
    }

    private static double[] Gate(double[] x, int n, int d, double[] gate)
    {
        var y = new double[x.Length];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < d; k++) y[i * d + k] = x[i * d + k] * gate[k];
        return y;
    }

    private static double[] FeedForward(RefWeights w, string p, double[] x, int n, int d) =>
        Ref.Linear(w, p + ".net.2", Ref.Map(Ref.Linear(w, p + ".net.0.proj", x, n, d, 4 * d), Ref.GeluTanh), n, 4 * d, d);

    private static double[] HeadNorm(RefWeights w, string name, double[] x, int n, BlockSpec s) =>
        s.QkNorm ? Ref.RmsNorm(x, n * s.Heads, s.HeadDim, 1e-6, w[name + ".weight"]) : x;

    /// <summary>diffusers' JointTransformerBlock on one sample: hidden [n, D], context [t, D], temb [D].</summary>
    public static (double[] Hidden, double[]? Context) JointBlock(RefWeights w, string p, BlockSpec s, double[] hidden, int n, double[] context, int t,
        double[] temb)
    {
        int d = s.Dim;
        var siluT = Ref.Map(temb, Ref.Silu);
        var mod = Chunks(Ref.Linear(w, p + ".norm1.linear", siluT, 1, d, (s.Dual ? 9 : 6) * d), d, s.Dual ? 9 : 6);
        // shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp [, shift_msa2, scale_msa2, gate_msa2]
        var normHidden = NormModulate(hidden, n, d, mod[1], mod[0]);
        // SD35AdaLayerNormZeroX: attn2's input is the same normed input hidden states, modulated by its own shift/scale.
        var normHidden2 = s.Dual ? NormModulate(hidden, n, d, mod[7], mod[6]) : null;
        double[] normContext;
        double[][]? cmod = null;
        if (s.ContextPreOnly)
        {
            var e = Chunks(Ref.Linear(w, p + ".norm1_context.linear", siluT, 1, d, 2 * d), d, 2); // scale, shift
            normContext = NormModulate(context, t, d, e[0], e[1]);
        }
        else
        {
            cmod = Chunks(Ref.Linear(w, p + ".norm1_context.linear", siluT, 1, d, 6 * d), d, 6);
            normContext = NormModulate(context, t, d, cmod[1], cmod[0]);
        }

        // Joint attention: per-stream projections, sequence = [image tokens; text tokens].
        var q = HeadNorm(w, p + ".attn.norm_q", Ref.Linear(w, p + ".attn.to_q", normHidden, n, d, d), n, s);
        var k = HeadNorm(w, p + ".attn.norm_k", Ref.Linear(w, p + ".attn.to_k", normHidden, n, d, d), n, s);
        var v = Ref.Linear(w, p + ".attn.to_v", normHidden, n, d, d);
        var ck = HeadNorm(w, p + ".attn.norm_added_k", Ref.Linear(w, p + ".attn.add_k_proj", normContext, t, d, d), t, s);
        var cv = Ref.Linear(w, p + ".attn.add_v_proj", normContext, t, d, d);
        double[] qAll = q;
        if (!s.ContextPreOnly)
            qAll = [.. q, .. HeadNorm(w, p + ".attn.norm_added_q", Ref.Linear(w, p + ".attn.add_q_proj", normContext, t, d, d), t, s)];
        int lq = s.ContextPreOnly ? n : n + t;
        var a = Ref.Attention(qAll, [.. k, .. ck], [.. v, .. cv], lq, n + t, s.Heads, s.HeadDim, 1 / Math.Sqrt(s.HeadDim));
        var imageAttn = Ref.Linear(w, p + ".attn.to_out.0", Ref.Rows(a, d, 0, n), n, d, d);
        hidden = Ref.Add(hidden, Gate(imageAttn, n, d, mod[2]));

        if (s.Dual)
        {
            var nh2 = normHidden2!;
            var q2 = HeadNorm(w, p + ".attn2.norm_q", Ref.Linear(w, p + ".attn2.to_q", nh2, n, d, d), n, s);
            var k2 = HeadNorm(w, p + ".attn2.norm_k", Ref.Linear(w, p + ".attn2.to_k", nh2, n, d, d), n, s);
            var v2 = Ref.Linear(w, p + ".attn2.to_v", nh2, n, d, d);
            var a2 = Ref.Linear(w, p + ".attn2.to_out.0", Ref.Attention(q2, k2, v2, n, n, s.Heads, s.HeadDim, 1 / Math.Sqrt(s.HeadDim)), n, d, d);
            hidden = Ref.Add(hidden, Gate(a2, n, d, mod[8]));
        }

        hidden = Ref.Add(hidden, Gate(FeedForward(w, p + ".ff", NormModulate(hidden, n, d, mod[4], mod[3]), n, d), n, d, mod[5]));
        if (s.ContextPreOnly) return (hidden, null);

        var textAttn = Ref.Linear(w, p + ".attn.to_add_out", Ref.Rows(a, d, n, t), t, d, d);
        context = Ref.Add(context, Gate(textAttn, t, d, cmod![2]));
        context = Ref.Add(context, Gate(FeedForward(w, p + ".ff_context", NormModulate(context, t, d, cmod[4], cmod[3]), t, d), t, d, cmod[5]));
        return (hidden, context);
    }

    /// <summary>The whole SD3Transformer2DModel on one sample: latent [C, H, W], context [t, J], pooled [P], timestep.</summary>
    public static double[] Forward(RefWeights w, Sd3TransformerConfig c, double[] latent, int height, int width, double[] context, int t,
        double[] pooled, double timestep)
    {
        int d = c.InnerDim, p = c.PatchSize, h = height / p, wd = width / p, n = h * wd;
        var hidden = PatchEmbed(w, c, latent, height, width);
        var temb = TimeTextEmbed(w, timestep, pooled, d, c.PooledProjectionDim);
        var ctx = Ref.Linear(w, "context_embedder", context, t, c.JointAttentionDim, d);
        for (int i = 0; i < c.NumLayers; i++)
        {
            var spec = new BlockSpec(d, c.NumAttentionHeads, c.AttentionHeadDim, i == c.NumLayers - 1, c.DualAttentionLayers.Contains(i), c.QkNorm == "rms_norm");
            (hidden, var next) = JointBlock(w, $"transformer_blocks.{i}", spec, hidden, n, ctx, t, temb);
            ctx = next ?? ctx;
        }
        var e = Chunks(Ref.Linear(w, "norm_out.linear", Ref.Map(temb, Ref.Silu), 1, d, 2 * d), d, 2); // scale, shift
        var outTokens = Ref.Linear(w, "proj_out", NormModulate(hidden, n, d, e[0], e[1]), n, d, p * p * c.OutputChannels);
        // Unpatchify: token (i, j) holds [p, p, C] -> pixel (i p + a, j p + b) of channel ch.
        int oc = c.OutputChannels;
        var image = new double[oc * height * width];
        for (int i = 0; i < h; i++)
            for (int j = 0; j < wd; j++)
                for (int a = 0; a < p; a++)
                    for (int b = 0; b < p; b++)
                        for (int ch = 0; ch < oc; ch++)
                            image[(ch * height + i * p + a) * width + j * p + b] = outTokens[(i * wd + j) * p * p * oc + (a * p + b) * oc + ch];
        return image;
    }
}
