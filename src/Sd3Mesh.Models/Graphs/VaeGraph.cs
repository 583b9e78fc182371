using Sd3Mesh.Models.Configs;
using Sd3Mesh.Models.Weights;
using Sd3Mesh.Onnx.Writer;

namespace Sd3Mesh.Models.Graphs;

/// <summary>
/// diffusers' AutoencoderKL encoder and decoder (vae.py Encoder/Decoder, resnet.py ResnetBlock2D,
/// unet_2d_blocks.py DownEncoderBlock2D/UpDecoderBlock2D/UNetMidBlock2D, up/downsampling.py), with
/// GroupNorm(norm_num_groups, eps 1e-6) and SiLU throughout.
///
/// vae_decoder: latent_sample [batch, latent_channels, h, w] -> sample [batch, out_channels, 8h, 8w]
/// (post_quant_conv first when configured). vae_encoder: sample [batch, in_channels, H, W] ->
/// latent_parameters [batch, 2 * latent_channels, H/8, W/8] (mean and logvar on channels, quant_conv last when
/// configured). Scaling/shift factors are the pipeline's business.
/// </summary>
public static class VaeGraph
{
    private const double Eps = 1e-6;

    public static void DefineDecoder(ModelGraph m, AutoencoderKlConfig c)
    {
        var g = m.G;
        var ch = c.BlockOutChannels;
        long latent = c.LatentChannels;
        var z = g.Input("latent_sample", m.DType, "batch", latent, "latent_height", "latent_width");
        var x = z;
        if (c.UsePostQuantConv) x = m.Conv2d(x, "post_quant_conv", latent, latent, 1, 1, [0, 0, 0, 0]);
        using (m.Scope("decoder"))
        {
            x = m.Conv2d(x, "conv_in", latent, ch[^1], 3, 1, [1, 1, 1, 1]);
            x = MidBlock(m, c, x, ch[^1]);
            long previous = ch[^1];
            for (int i = 0; i < ch.Length; i++)
            {
                long output = ch[ch.Length - 1 - i];
                using var _ = m.Scope($"up_blocks.{i}");
                for (int j = 0; j < c.LayersPerBlock + 1; j++)
                    x = Resnet(m, c, x, $"resnets.{j}", j == 0 ? previous : output, output);
                if (i < ch.Length - 1)
                    x = Upsample(m, x, "upsamplers.0", output);
                previous = output;
            }
            x = m.GroupNorm(x, "conv_norm_out", ch[0], c.NormNumGroups, Eps);
            x = m.Conv2d(m.Silu(x), "conv_out", ch[0], c.OutChannels, 3, 1, [1, 1, 1, 1]);
        }
        g.Output(x, "sample", m.DType, "batch", c.OutChannels, "height", "width");
    }

    public static void DefineEncoder(ModelGraph m, AutoencoderKlConfig c)
    {
        var g = m.G;
        var ch = c.BlockOutChannels;
        long latent = c.LatentChannels;
        var x = g.Input("sample", m.DType, "batch", c.InChannels, "height", "width");
        using (m.Scope("encoder"))
        {
            x = m.Conv2d(x, "conv_in", c.InChannels, ch[0], 3, 1, [1, 1, 1, 1]);
            for (int i = 0; i < ch.Length; i++)
            {
                long input = i == 0 ? ch[0] : ch[i - 1], output = ch[i];
                using var _ = m.Scope($"down_blocks.{i}");
                for (int j = 0; j < c.LayersPerBlock; j++)
                    x = Resnet(m, c, x, $"resnets.{j}", j == 0 ? input : output, output);
                if (i < ch.Length - 1)
                    x = Downsample(m, x, "downsamplers.0", output);
            }
            x = MidBlock(m, c, x, ch[^1]);
            x = m.GroupNorm(x, "conv_norm_out", ch[^1], c.NormNumGroups, Eps);
            x = m.Conv2d(m.Silu(x), "conv_out", ch[^1], 2 * latent, 3, 1, [1, 1, 1, 1]);
        }
        if (c.UseQuantConv) x = m.Conv2d(x, "quant_conv", 2 * latent, 2 * latent, 1, 1, [0, 0, 0, 0]);
        g.Output(x, "latent_parameters", m.DType, "batch", 2 * latent, "latent_height", "latent_width");
    }

    /// <summary>ResnetBlock2D without time embedding: x' = shortcut(x) + conv2(SiLU(norm2(conv1(SiLU(norm1(x)))))).</summary>
    public static Value Resnet(ModelGraph m, AutoencoderKlConfig c, Value x, string name, long inChannels, long outChannels)
    {
        using var _ = m.Scope(name);
        var h = m.Silu(m.GroupNorm(x, "norm1", inChannels, c.NormNumGroups, Eps));
        h = m.Conv2d(h, "conv1", inChannels, outChannels, 3, 1, [1, 1, 1, 1]);
        h = m.Silu(m.GroupNorm(h, "norm2", outChannels, c.NormNumGroups, Eps));
        h = m.Conv2d(h, "conv2", outChannels, outChannels, 3, 1, [1, 1, 1, 1],
            WeightInit.Normal(0.5 / Math.Sqrt(outChannels * 9))); // a residual branch: start it small
        var shortcut = inChannels == outChannels ? x : m.Conv2d(x, "conv_shortcut", inChannels, outChannels, 1, 1, [0, 0, 0, 0]);
        return m.G.Add(shortcut, h);
    }

    /// <summary>UNetMidBlock2D: resnet, single-head self-attention over the H*W positions (if enabled), resnet.</summary>
    public static Value MidBlock(ModelGraph m, AutoencoderKlConfig c, Value x, long channels)
    {
        using var _ = m.Scope("mid_block");
        x = Resnet(m, c, x, "resnets.0", channels, channels);
        if (c.MidBlockAddAttention) x = SpatialAttention(m, x, "attentions.0", channels, c.NormNumGroups);
        return Resnet(m, c, x, "resnets.1", channels, channels);
    }

    /// <summary>
    /// diffusers' Attention with a group norm (heads = 1, dim_head = channels, residual connection): GroupNorm,
    /// [B, C, H, W] -> [B, H*W, C], q/k/v Linear, softmax(q k^T / sqrt(C)) v, to_out.0, back to NCHW, + x.
    /// </summary>
    public static Value SpatialAttention(ModelGraph m, Value x, string name, long channels, long groups)
    {
        var g = m.G;
        using var _ = m.Scope(name);
        var normed = m.GroupNorm(x, "group_norm", channels, groups, Eps);
        var tokens = g.Transpose(g.Reshape(normed, 0, channels, -1), 0, 2, 1);
        var init = WeightInit.Normal(1.0 / Math.Sqrt(channels));
        var q = m.Linear(tokens, "to_q", channels, channels, init);
        var k = m.Linear(tokens, "to_k", channels, channels, init);
        var v = m.Linear(tokens, "to_v", channels, channels, init);
        var a = m.MultiHeadAttention(q, k, v, heads: 1, channels, 1.0 / Math.Sqrt(channels));
        var o = m.Linear(a, "to_out.0", channels, channels, init);
        var back = g.Reshape(g.Transpose(o, 0, 2, 1), g.Shape(x));
        return g.Add(back, x);
    }

    /// <summary>Upsample2D(use_conv): nearest-neighbour 2x, then a 3x3 conv.</summary>
    public static Value Upsample(ModelGraph m, Value x, string name, long channels)
    {
        using var _ = m.Scope(name);
        return m.Conv2d(m.G.UpsampleNearest(x, 2f), "conv", channels, channels, 3, 1, [1, 1, 1, 1]);
    }

    /// <summary>Downsample2D(use_conv, padding=0): pad (0, 1, 0, 1) - right and bottom only - then a 3x3 conv of stride 2.</summary>
    public static Value Downsample(ModelGraph m, Value x, string name, long channels)
    {
        using var _ = m.Scope(name);
        return m.Conv2d(x, "conv", channels, channels, 3, 2, [0, 0, 1, 1]);
    }
}
