using Sd3Mesh.Models.Configs;

namespace Sd3Mesh.Models.Tests.Reference;

/// <summary>AutoencoderKL's blocks in float64 on one sample [C, H, W].</summary>
public static class RefVae
{
    private const double Eps = 1e-6;

    private static double[] Norm(RefWeights w, string name, double[] x, int c, int hw, int groups) =>
        Ref.GroupNorm(x, c, hw, groups, Eps, w[name + ".weight"], w[name + ".bias"]);

    private static double[] Conv(RefWeights w, string name, double[] x, int c, int h, int wd, int outC, int k, int stride, int[] pads, out int oh, out int ow) =>
        Ref.Conv2d(x, c, h, wd, w[name + ".weight"], w[name + ".bias"], outC, k, stride, pads[0], pads[1], pads[2], pads[3], out oh, out ow);

    public static double[] Resnet(RefWeights w, string p, double[] x, int inC, int outC, int h, int wd, int groups)
    {
        var t = Ref.Map(Norm(w, p + ".norm1", x, inC, h * wd, groups), Ref.Silu);
        t = Conv(w, p + ".conv1", t, inC, h, wd, outC, 3, 1, [1, 1, 1, 1], out _, out _);
        t = Ref.Map(Norm(w, p + ".norm2", t, outC, h * wd, groups), Ref.Silu);
        t = Conv(w, p + ".conv2", t, outC, h, wd, outC, 3, 1, [1, 1, 1, 1], out _, out _);
        var shortcut = inC == outC ? x : Conv(w, p + ".conv_shortcut", x, inC, h, wd, outC, 1, 1, [0, 0, 0, 0], out _, out _);
        return Ref.Add(shortcut, t);
    }

    /// <summary>Single-head self-attention over the h*w positions, GroupNorm first, residual added.</summary>
    public static double[] Attention(RefWeights w, string p, double[] x, int c, int hw, int groups)
    {
        var normed = Norm(w, p + ".group_norm", x, c, hw, groups);
        var tokens = new double[hw * c];
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < hw; i++) tokens[i * c + ch] = normed[ch * hw + i];
        var q = Ref.Linear(w, p + ".to_q", tokens, hw, c, c);
        var k = Ref.Linear(w, p + ".to_k", tokens, hw, c, c);
        var v = Ref.Linear(w, p + ".to_v", tokens, hw, c, c);
        var o = Ref.Linear(w, p + ".to_out.0", Ref.Attention(q, k, v, hw, hw, 1, c, 1 / Math.Sqrt(c)), hw, c, c);
        var y = (double[])x.Clone();
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < hw; i++) y[ch * hw + i] += o[i * c + ch];
        return y;
    }

    /// <summary>Nearest 2x (pixel (i, j) copies (i/2, j/2)), then a 3x3 conv.</summary>
    public static double[] Upsample(RefWeights w, string p, double[] x, int c, int h, int wd)
    {
        var up = new double[c * 4 * h * wd];
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < 2 * h; i++)
                for (int j = 0; j < 2 * wd; j++)
                    up[(ch * 2 * h + i) * 2 * wd + j] = x[(ch * h + i / 2) * wd + j / 2];
        return Conv(w, p + ".conv", up, c, 2 * h, 2 * wd, c, 3, 1, [1, 1, 1, 1], out _, out _);
    }

    /// <summary>F.pad(x, (0, 1, 0, 1)) - one zero column right, one zero row below - then a 3x3 conv of stride 2.</summary>
    public static double[] Downsample(RefWeights w, string p, double[] x, int c, int h, int wd) =>
        Conv(w, p + ".conv", x, c, h, wd, c, 3, 2, [0, 0, 1, 1], out _, out _);

    public static double[] Mid(RefWeights w, string p, AutoencoderKlConfig cfg, double[] x, int c, int h, int wd)
    {
        x = Resnet(w, p + ".resnets.0", x, c, c, h, wd, cfg.NormNumGroups);
        if (cfg.MidBlockAddAttention) x = Attention(w, p + ".attentions.0", x, c, h * wd, cfg.NormNumGroups);
        return Resnet(w, p + ".resnets.1", x, c, c, h, wd, cfg.NormNumGroups);
    }

    /// <summary>The whole decoder: latent [L, h, w] -> image [out, 8h, 8w].</summary>
    public static double[] Decode(RefWeights w, AutoencoderKlConfig cfg, double[] z, int h, int wd)
    {
        var ch = cfg.BlockOutChannels;
        int groups = cfg.NormNumGroups;
        if (cfg.UsePostQuantConv) z = Conv(w, "post_quant_conv", z, cfg.LatentChannels, h, wd, cfg.LatentChannels, 1, 1, [0, 0, 0, 0], out _, out _);
        var x = Conv(w, "decoder.conv_in", z, cfg.LatentChannels, h, wd, ch[^1], 3, 1, [1, 1, 1, 1], out _, out _);
        x = Mid(w, "decoder.mid_block", cfg, x, ch[^1], h, wd);
        int prev = ch[^1];
        for (int i = 0; i < ch.Length; i++)
        {
            int outC = ch[ch.Length - 1 - i];
            for (int j = 0; j <= cfg.LayersPerBlock; j++)
                x = Resnet(w, $"decoder.up_blocks.{i}.resnets.{j}", x, j == 0 ? prev : outC, outC, h, wd, groups);
            if (i < ch.Length - 1)
            {
                x = Upsample(w, $"decoder.up_blocks.{i}.upsamplers.0", x, outC, h, wd);
                h *= 2; wd *= 2;
            }
            prev = outC;
        }
        x = Ref.Map(Norm(w, "decoder.conv_norm_out", x, ch[0], h * wd, groups), Ref.Silu);
        return Conv(w, "decoder.conv_out", x, ch[0], h, wd, cfg.OutChannels, 3, 1, [1, 1, 1, 1], out _, out _);
    }
}
