using Sd3Mesh.Models.Configs;
using Sd3Mesh.Models.Weights;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Graphs;

/// <summary>
/// diffusers' SD3Transformer2DModel (MMDiT): patch embedding plus a centered crop of the sin-cos position
/// table, timestep + pooled-text conditioning, a context embedder, joint blocks (adaLN-Zero on both streams,
/// joint attention over [image tokens; text tokens]), AdaLayerNormContinuous output norm, projection, unpatchify.
/// SD3.5's RMS qk-norm and dual-attention (SD35AdaLayerNormZeroX + attn2) blocks are supported by config.
///
/// Inputs: hidden_states [batch, in_channels, height, width], encoder_hidden_states [batch, sequence,
/// joint_attention_dim], pooled_projections [batch, pooled_projection_dim] (model precision), timestep [batch]
/// float32 in 0..1000 as diffusers passes it (the sinusoid is computed in fp32 in every precision).
/// Output: out_hidden_states [batch, out_channels, height, width] (model precision).
/// </summary>
public static class Sd3TransformerGraph
{
    /// <summary>Random initialization: LeCun normal (std 1/sqrt(fan_in)) for Linear layers, output projections of
    /// residual branches scaled by 1/sqrt(2 * layers) and adaLN modulations by 1/2, so gates stay small.</summary>
    public static WeightInit Lecun(long fanIn, double gain = 1.0) => WeightInit.Normal(gain / Math.Sqrt(fanIn));

    public static void Define(ModelGraph m, Sd3TransformerConfig c)
    {
        var g = m.G;
        long d = c.InnerDim;
        var hidden = g.Input("hidden_states", m.DType, "batch", c.InChannels, "height", "width");
        var context = g.Input("encoder_hidden_states", m.DType, "batch", "sequence", c.JointAttentionDim);
        var pooled = g.Input("pooled_projections", m.DType, "batch", c.PooledProjectionDim);
        var timestep = g.Input("timestep", DType.Float32, "batch");

        var (tokens, gridH, gridW) = PatchEmbed(m, c, hidden);
        var temb = TimeTextEmbed(m, d, c.PooledProjectionDim, timestep, pooled);
        var ctx = m.Linear(context, "context_embedder", c.JointAttentionDim, d, Lecun(c.JointAttentionDim));

        var spec = new JointBlockSpec(d, c.NumAttentionHeads, c.AttentionHeadDim, false, false, c.QkNorm == "rms_norm", c.NumLayers);
        for (int i = 0; i < c.NumLayers; i++)
        {
            using var _ = m.Scope($"transformer_blocks.{i}");
            var blockSpec = spec with { ContextPreOnly = i == c.NumLayers - 1, DualAttention = c.DualAttentionLayers.Contains(i) };
            (tokens, var next) = JointBlock(m, blockSpec, tokens, ctx, temb);
            ctx = next ?? ctx;
        }

        tokens = AdaNormContinuous(m, "norm_out", tokens, temb, d);
        long p = c.PatchSize, outC = c.OutputChannels;
        tokens = m.Linear(tokens, "proj_out", d, p * p * outC, Lecun(d));
        var output = Unpatchify(m, tokens, gridH, gridW, p, outC, m.DimOf(hidden, 0));
        g.Output(output, "out_hidden_states", m.DType, "batch", outC, "height", "width");
    }

    /// <summary>
    /// PatchEmbed with pos_embed_max_size: conv (kernel = stride = patch) -> tokens [B, h*w, D], plus the
    /// [top:top+h, left:left+w] crop of the max_size x max_size table, top = (max - h) / 2, left = (max - w) / 2,
    /// computed from the input's shape in the graph. Returns the tokens and the grid size h, w (1-D int64).
    /// </summary>
    public static (Value Tokens, Value GridH, Value GridW) PatchEmbed(ModelGraph m, Sd3TransformerConfig c, Value hidden)
    {
        var g = m.G;
        long d = c.InnerDim, p = c.PatchSize, max = c.PosEmbedMaxSize;
        using var _ = m.Scope("pos_embed");
        var conv = m.Conv2d(hidden, "proj", c.InChannels, d, p, p, [0, 0, 0, 0], Lecun(c.InChannels * p * p));
        var h = m.DimOf(conv, 2);
        var w = m.DimOf(conv, 3);
        var tokens = g.Transpose(g.Reshape(conv, 0, 0, -1), 0, 2, 1);

        int baseSize = c.SampleSize / c.PatchSize;
        var table = m.Param("pos_embed", [1, max * max, d],
            WeightInit.Computed(() => PositionTables.SinCos2D((int)d, (int)max, baseSize)), graphShape: [max, max, d]);
        var maxSize = g.Int64s(max);
        var two = g.Int64s(2);
        var top = g.Div(g.Sub(maxSize, h), two);
        var left = g.Div(g.Sub(maxSize, w), two);
        var crop = m.Slice(table, g.Concat(0, top, left), g.Concat(0, g.Add(top, h), g.Add(left, w)), [0, 1]);
        return (g.Add(tokens, g.Reshape(crop, 1, -1, d)), h, w);
    }

    /// <summary>
    /// CombinedTimestepTextProjEmbeddings: Timesteps(256, flip_sin_to_cos=True, shift 0) -> Linear-SiLU-Linear,
    /// plus pooled text -> Linear-SiLU-Linear. The sinusoid [cos, sin](t * freq) is computed in fp32.
    /// </summary>
    public static Value TimeTextEmbed(ModelGraph m, long d, long pooledDim, Value timestep, Value pooled)
    {
        var g = m.G;
        const int channels = 256;
        using var _ = m.Scope("time_text_embed");
        var freqs = g.Constant(Tensor.FromArray(PositionTables.TimestepFrequencies(channels), 1, channels / 2), "timestep_freqs");
        var args = g.Mul(g.Unsqueeze(timestep, 1), freqs);
        var sinusoid = m.FromFloat32(g.Concat(1, g.Cos(args), g.Sin(args)));

        Value t;
        using (m.Scope("timestep_embedder"))
            t = m.Linear(m.Silu(m.Linear(sinusoid, "linear_1", channels, d, Lecun(channels))), "linear_2", d, d, Lecun(d));
        Value text;
        using (m.Scope("text_embedder"))
            text = m.Linear(m.Silu(m.Linear(pooled, "linear_1", pooledDim, d, Lecun(pooledDim))), "linear_2", d, d, Lecun(d));
        return g.Add(t, text);
    }

    /// <summary>One JointTransformerBlock's shape: width, heads, and its variant flags.</summary>
    public sealed record JointBlockSpec(long Dim, long Heads, long HeadDim, bool ContextPreOnly, bool DualAttention, bool QkRmsNorm, int Layers);

    /// <summary>
    /// diffusers' JointTransformerBlock. Returns the new image tokens and the new context tokens (null when the
    /// block is context_pre_only: its context only feeds the attention).
    /// </summary>
    public static (Value Hidden, Value? Context) JointBlock(ModelGraph m, JointBlockSpec s, Value hidden, Value context, Value temb)
    {
        var g = m.G;
        long d = s.Dim;
        var residualOut = Lecun(d, 1.0 / Math.Sqrt(2.0 * s.Layers));
        var ffOut = Lecun(4 * d, 1.0 / Math.Sqrt(2.0 * s.Layers));

        // norm1: AdaLayerNormZero (6 chunks) or SD35AdaLayerNormZeroX (9 chunks).
        var mod = AdaModulation(m, "norm1", temb, d, s.DualAttention ? 9 : 6);
        var normed = m.LayerNorm(hidden, null, d, 1e-6);
        var normHidden = Modulate(m, normed, mod[1], mod[0]);
        var (gateMsa, shiftMlp, scaleMlp, gateMlp) = (mod[2], mod[3], mod[4], mod[5]);

        Value normContext;
        Value[]? cmod = null;
        if (s.ContextPreOnly)
            normContext = AdaNormContinuous(m, "norm1_context", context, temb, d);
        else
        {
            cmod = AdaModulation(m, "norm1_context", temb, d, 6);
            normContext = Modulate(m, m.LayerNorm(context, null, d, 1e-6), cmod[1], cmod[0]);
        }

        Value imageAttn, textAttn;
        double scale = Math.Pow(s.HeadDim, -0.5);
        using (m.Scope("attn"))
        {
            var (query, k, v) = Projections(m, s, normHidden, "to_q", "to_k", "to_v", "norm_q", "norm_k");
            var q = query!.Value;
            // A context_pre_only block discards the text rows of the attention, so it needs no text queries
            // (its add_q_proj and norm_added_q weights are left unused, as their outputs are in diffusers).
            var (cq, ck, cv) = Projections(m, s, normContext, s.ContextPreOnly ? null : "add_q_proj", "add_k_proj", "add_v_proj", "norm_added_q", "norm_added_k");
            var keys = g.Concat(1, k, ck); // image tokens first, as diffusers concatenates them
            var values = g.Concat(1, v, cv);
            if (s.ContextPreOnly)
            {
                imageAttn = m.Linear(m.MultiHeadAttention(q, keys, values, s.Heads, s.HeadDim, scale), "to_out.0", d, d, residualOut);
                textAttn = default;
            }
            else
            {
                var joint = m.MultiHeadAttention(g.Concat(1, q, cq!.Value), keys, values, s.Heads, s.HeadDim, scale);
                var imageCount = m.DimOf(hidden, 1);
                imageAttn = m.Linear(m.Slice(joint, g.Int64s(0), imageCount, [1]), "to_out.0", d, d, residualOut);
                textAttn = m.Linear(m.Slice(joint, imageCount, g.Int64s(long.MaxValue), [1]), "to_add_out", d, d, residualOut);
            }
        }
        hidden = g.Add(hidden, g.Mul(m.PerToken(gateMsa), imageAttn));

        if (s.DualAttention)
        {
            var normHidden2 = Modulate(m, normed, mod[7], mod[6]);
            using (m.Scope("attn2"))
            {
                var (q, k, v) = Projections(m, s, normHidden2, "to_q", "to_k", "to_v", "norm_q", "norm_k");
                var a = m.MultiHeadAttention(q!.Value, k, v, s.Heads, s.HeadDim, scale);
                hidden = g.Add(hidden, g.Mul(m.PerToken(mod[8]), m.Linear(a, "to_out.0", d, d, residualOut)));
            }
        }

        var ffIn = Modulate(m, m.LayerNorm(hidden, null, d, 1e-6), scaleMlp, shiftMlp);
        hidden = g.Add(hidden, g.Mul(m.PerToken(gateMlp), FeedForward(m, "ff", ffIn, d, ffOut)));
        if (s.ContextPreOnly) return (hidden, null);

        context = g.Add(context, g.Mul(m.PerToken(cmod![2]), textAttn));
        var cffIn = Modulate(m, m.LayerNorm(context, null, d, 1e-6), cmod[4], cmod[3]);
        context = g.Add(context, g.Mul(m.PerToken(cmod[5]), FeedForward(m, "ff_context", cffIn, d, ffOut)));
        return (hidden, context);
    }

    /// <summary>Per-stream q, k, v projections [B, L, D], with SD3.5's RMS qk-norm per head when configured
    /// (no query when <paramref name="qName"/> is null).</summary>
    private static (Value? Q, Value K, Value V) Projections(ModelGraph m, JointBlockSpec s, Value x,
        string? qName, string kName, string vName, string qNorm, string kNorm)
    {
        long d = s.Dim;
        Value? q = qName is null ? null : m.Linear(x, qName, d, d, Lecun(d));
        var k = m.Linear(x, kName, d, d, Lecun(d));
        var v = m.Linear(x, vName, d, d, Lecun(d));
        if (s.QkRmsNorm)
        {
            if (q is Value query) q = m.HeadRmsNorm(query, qNorm, s.Heads, s.HeadDim, 1e-6);
            k = m.HeadRmsNorm(k, kNorm, s.Heads, s.HeadDim, 1e-6);
        }
        return (q, k, v);
    }

    /// <summary>SiLU(temb) -> Linear(dim, chunks * dim) split into <paramref name="chunks"/> [B, dim] tensors.</summary>
    private static Value[] AdaModulation(ModelGraph m, string name, Value temb, long d, int chunks)
    {
        using var _ = m.Scope(name);
        var emb = m.Linear(m.Silu(temb), "linear", d, chunks * d, Lecun(d, 0.5));
        return m.G.Split(emb, 1, Enumerable.Repeat(d, chunks).ToArray());
    }

    /// <summary>x * (1 + scale[:, None]) + shift[:, None].</summary>
    private static Value Modulate(ModelGraph m, Value x, Value scale, Value shift) =>
        m.G.Add(m.G.Mul(x, m.G.Add(m.PerToken(scale), m.Scalar(1.0))), m.PerToken(shift));

    /// <summary>AdaLayerNormContinuous (no affine, eps 1e-6): emb = Linear(SiLU(temb)); scale, shift = chunk(emb, 2) - scale first.</summary>
    public static Value AdaNormContinuous(ModelGraph m, string name, Value x, Value temb, long d)
    {
        Value scale, shift;
        using (m.Scope(name))
        {
            var emb = m.Linear(m.Silu(temb), "linear", d, 2 * d, Lecun(d, 0.5));
            var parts = m.G.Split(emb, 1, d, d);
            (scale, shift) = (parts[0], parts[1]);
        }
        return Modulate(m, m.LayerNorm(x, null, d, 1e-6), scale, shift);
    }

    /// <summary>FeedForward(dim, activation_fn="gelu-approximate"): net.0 = GELU(tanh) with proj Linear(dim, 4 dim), net.2 = Linear(4 dim, dim).</summary>
    private static Value FeedForward(ModelGraph m, string name, Value x, long d, WeightInit outInit)
    {
        using var _ = m.Scope(name);
        var h = m.LinearGeluTanh(x, "net.0.proj", d, 4 * d, Lecun(d));
        return m.Linear(h, "net.2", 4 * d, d, outInit);
    }

    /// <summary>[B, h*w, p*p*C] -> [B, h, w, p, p, C] -> (einsum nhwpqc->nchpwq) -> [B, C, h*p, w*p].</summary>
    public static Value Unpatchify(ModelGraph m, Value x, Value gridH, Value gridW, long p, long channels, Value batch)
    {
        var g = m.G;
        var six = g.Reshape(x, g.Concat(0, batch, gridH, gridW, g.Int64s(p, p, channels)));
        var moved = g.Transpose(six, 0, 5, 1, 3, 2, 4);
        var pp = g.Int64s(p);
        return g.Reshape(moved, g.Concat(0, batch, g.Int64s(channels), g.Mul(gridH, pp), g.Mul(gridW, pp)));
    }
}
