using System.Collections.Concurrent;
using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Tests.Fakes;

// Test doubles with known math, standing in for the ONNX sessions. Each records its calls.

/// <summary>hidden[s, f] = 0.001*id_s + 0.01*f + 0.1*k (k = hidden state from the end); pooled[j] = 1e-4*sum(ids) + 1e-3*j.</summary>
public sealed class FakeClipEncoder(int width, int projection) : IClipTextEncoder
{
    public int Calls;
    public ConcurrentQueue<long[]> Inputs { get; } = new();

    public static double Hidden(long id, int feature, int fromEnd) => 0.001 * id + 0.01 * feature + 0.1 * fromEnd;
    public static double Pooled(long idSum, int j) => 1e-4 * idSum + 1e-3 * j;

    public Task<ClipTextEncoding> EncodeAsync(Tensor inputIds, int hiddenStateFromEnd, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Calls);
        var ids = inputIds.ToArray<long>();
        Inputs.Enqueue(ids);
        int b = (int)inputIds.Shape[0], s = (int)inputIds.Shape[1];
        var hidden = new float[b * s * width];
        var pooled = new float[b * projection];
        for (int r = 0; r < b; r++)
        {
            long sum = 0;
            for (int t = 0; t < s; t++)
            {
                sum += ids[r * s + t];
                for (int f = 0; f < width; f++) hidden[(r * s + t) * width + f] = (float)Hidden(ids[r * s + t], f, hiddenStateFromEnd);
            }
            for (int j = 0; j < projection; j++) pooled[r * projection + j] = (float)Pooled(sum, j);
        }
        return Task.FromResult(new ClipTextEncoding(Tensor.FromArray(pooled, b, projection), Tensor.FromArray(hidden, b, s, width)));
    }
}

/// <summary>state[s, d] = 1e-4*id_s - 2e-3*d.</summary>
public sealed class FakeT5Encoder(int width) : IT5TextEncoder
{
    public int Calls;
    public static double State(long id, int d) => 1e-4 * id - 2e-3 * d;

    public Task<Tensor> EncodeAsync(Tensor inputIds, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Calls);
        var ids = inputIds.ToArray<long>();
        int b = (int)inputIds.Shape[0], s = (int)inputIds.Shape[1];
        var output = new float[b * s * width];
        for (int i = 0; i < b * s; i++)
            for (int d = 0; d < width; d++) output[i * width + d] = (float)State(ids[i], d);
        return Task.FromResult(Tensor.FromArray(output, b, s, width));
    }
}

/// <summary>
/// v[b, i] = A*x[b, i] + B*mean(encoder_hidden_states[b]) + C*mean(pooled[b]) + D*t[b]/1000: a fixed
/// linear function of its inputs, row by row.
/// </summary>
public sealed class FakeTransformer : IVelocityModel
{
    public const double A = -0.5, B = 2.0, C = 3.0, D = 0.25;
    public int Calls;
    public ConcurrentQueue<(long Batch, float Timestep)> Log { get; } = new();

    public Task<Tensor> PredictAsync(Tensor hiddenStates, Tensor encoderHiddenStates, Tensor pooledProjections, Tensor timestep,
        CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Calls);
        int b = (int)hiddenStates.Shape[0];
        Assert.Equal(b, encoderHiddenStates.Shape[0]);
        Assert.Equal(b, pooledProjections.Shape[0]);
        Assert.Equal(new TensorShape(b), timestep.Shape);
        var x = hiddenStates.AsSpan<float>();
        var e = encoderHiddenStates.AsSpan<float>();
        var p = pooledProjections.AsSpan<float>();
        var t = timestep.AsSpan<float>();
        Log.Enqueue((b, t[0]));
        int per = x.Length / b, ePer = e.Length / b, pPer = p.Length / b;
        var v = new float[x.Length];
        for (int r = 0; r < b; r++)
        {
            double eMean = 0, pMean = 0;
            for (int i = 0; i < ePer; i++) eMean += e[r * ePer + i];
            for (int i = 0; i < pPer; i++) pMean += p[r * pPer + i];
            eMean /= ePer;
            pMean /= pPer;
            for (int i = 0; i < per; i++)
                v[r * per + i] = (float)(A * x[r * per + i] + B * eMean + C * pMean + D * t[r] / 1000);
        }
        return Task.FromResult(Tensor.FromArray(v, hiddenStates.Shape));
    }
}

/// <summary>
/// A position-independent decoder: each latent pixel's channels go through a fixed affine map to RGB and
/// are upsampled 8x by repetition (nearest neighbour).
/// </summary>
public sealed class FakeVaeDecoder(int scale = 8) : IVaeDecoder
{
    public int Calls;
    public ConcurrentQueue<TensorShape> Shapes { get; } = new();

    public static double Weight(int rgb, int channel) => 0.05 * ((rgb + 1) * (channel + 1) % 7 - 3);
    public static double Bias(int rgb) => 0.1 * (rgb - 1);

    public Task<Tensor> DecodeAsync(Tensor latentSample, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Calls);
        Shapes.Enqueue(latentSample.Shape);
        var z = latentSample.AsSpan<float>();
        int b = (int)latentSample.Shape[0], ch = (int)latentSample.Shape[1], h = (int)latentSample.Shape[2], w = (int)latentSample.Shape[3];
        int H = h * scale, W = w * scale;
        var output = new float[b * 3 * H * W];
        for (int n = 0; n < b; n++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    for (int c = 0; c < 3; c++)
                    {
                        double v = Bias(c);
                        for (int k = 0; k < ch; k++) v += Weight(c, k) * z[((n * ch + k) * h + y) * w + x];
                        float f = (float)v;
                        for (int dy = 0; dy < scale; dy++)
                            output.AsSpan(((n * 3 + c) * H + y * scale + dy) * W + x * scale, scale).Fill(f);
                    }
        return Task.FromResult(Tensor.FromArray(output, b, 3, H, W));
    }
}

/// <summary>
/// Encoder double: mean[k] = mean of the 8x8 block of colour (k mod 3) times (1 + k/10); logvar = -2 + 0.1*k.
/// </summary>
public sealed class FakeVaeEncoder(int channels) : IVaeEncoder
{
    public int Calls;

    public static double Mean(double blockAverage, int k) => blockAverage * (1 + k / 10.0);
    public static double LogVar(int k) => -2 + 0.1 * k;

    public Task<Tensor> EncodeAsync(Tensor sample, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Calls);
        var s = sample.AsSpan<float>();
        int H = (int)sample.Shape[2], W = (int)sample.Shape[3], h = H / 8, w = W / 8;
        var output = new float[2 * channels * h * w];
        for (int k = 0; k < channels; k++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    double sum = 0;
                    for (int dy = 0; dy < 8; dy++)
                        for (int dx = 0; dx < 8; dx++) sum += s[((k % 3) * H + y * 8 + dy) * W + x * 8 + dx];
                    output[(k * h + y) * w + x] = (float)Mean(sum / 64, k);
                    output[((channels + k) * h + y) * w + x] = (float)LogVar(k);
                }
        return Task.FromResult(Tensor.FromArray(output, 1, 2 * channels, h, w));
    }
}
