using Sd3Mesh.Models.Configs;

namespace Sd3Mesh.Models;

/// <summary>
/// Analytic FLOP count of one SD3 transformer forward pass (a multiply-add counts 2; element-wise ops, norms and
/// softmax are left out). Per sample, with N = (H/8/p)(W/8/p) image tokens, T text tokens, width D, L blocks:
/// <list type="bullet">
/// <item>each joint block but the last: 24 (N+T) D^2 (q, k, v, out: 8; 4x MLPs: 16) + 4 (N+T)^2 D (QK^T, AV) + 24 D^2 (adaLN of both streams);</item>
/// <item>the last (context_pre_only) block: 2 N D^2 (q) + 4 (N+T) D^2 (k, v) + 4 N (N+T) D (image queries only) + 2 N D^2 (out)
/// + 16 N D^2 (MLP) + 16 D^2 (adaLN);</item>
/// <item>dual-attention blocks (SD3.5) add 8 N D^2 + 4 N^2 D + 6 D^2;</item>
/// <item>embeddings and output: 2 N C p^2 D (patch) + 2 T J D (context) + 2 (256 D + P D + 2 D^2) (timestep/pooled MLPs)
/// + 4 D^2 (norm_out) + 2 N D p^2 C_out (proj_out).</item>
/// </list>
/// SD3 Medium at 1024x1024 with 333 text tokens: 8.9 TFLOP per sample.
/// </summary>
public static class MmditFlops
{
    public static double PerSample(Sd3TransformerConfig c, int imageHeight, int imageWidth, int textTokens)
    {
        double p = c.PatchSize, d = c.InnerDim, t = textTokens;
        double n = Math.Floor(imageHeight / 8.0 / p) * Math.Floor(imageWidth / 8.0 / p);
        double all = n + t, d2 = d * d;
        double flops = 2 * n * c.InChannels * p * p * d + 2 * t * c.JointAttentionDim * d + 2 * (256 * d + c.PooledProjectionDim * d + 2 * d2)
                       + 4 * d2 + 2 * n * d * p * p * c.OutputChannels;
        for (int i = 0; i < c.NumLayers; i++)
        {
            bool last = i == c.NumLayers - 1;
            flops += last
                ? 2 * n * d2 + 4 * all * d2 + 4 * n * all * d + 2 * n * d2 + 16 * n * d2 + 16 * d2
                : 24 * all * d2 + 4 * all * all * d + 24 * d2;
            if (c.DualAttentionLayers.Contains(i)) flops += 8 * n * d2 + 4 * n * n * d + 6 * d2;
        }
        return flops;
    }
}
