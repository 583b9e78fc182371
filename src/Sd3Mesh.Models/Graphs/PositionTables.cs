namespace Sd3Mesh.Models.Graphs;

/// <summary>Fixed tables of SD3's submodules: the MMDiT's sin-cos positions and timestep frequencies, T5's buckets.</summary>
public static class PositionTables
{
    /// <summary>
    /// diffusers' get_2d_sincos_pos_embed(dim, gridSize, base_size, interpolation_scale) as PatchEmbed stores it
    /// ("pos_embed.pos_embed", [1, gridSize^2, dim]): row h*gridSize + w holds
    /// [sin(x w'), cos(x w'), sin(x h'), cos(x h')] with x_i = 10000^(-i / (dim/4)) and the coordinates scaled as
    /// c' = c / (gridSize / baseSize) / interpolationScale (rounded to float32, as numpy does there).
    /// </summary>
    public static float[] SinCos2D(int dim, int gridSize, int baseSize, double interpolationScale = 1.0)
    {
        if (dim % 4 != 0) throw new ArgumentException($"the 2-D sin-cos embedding needs a dimension divisible by 4, not {dim}", nameof(dim));
        int quarter = dim / 4;
        var omega = new double[quarter];
        for (int i = 0; i < quarter; i++) omega[i] = 1.0 / Math.Pow(10000.0, i / (double)quarter);
        var coord = new double[gridSize];
        float step = (float)(gridSize / (double)baseSize);
        for (int i = 0; i < gridSize; i++) coord[i] = (float)((float)i / step / (float)interpolationScale);

        var table = new float[(long)gridSize * gridSize * dim];
        Parallel.For(0, gridSize, h =>
        {
            for (int w = 0; w < gridSize; w++)
            {
                long row = ((long)h * gridSize + w) * dim;
                for (int i = 0; i < quarter; i++)
                {
                    double aw = coord[w] * omega[i], ah = coord[h] * omega[i];
                    table[row + i] = (float)Math.Sin(aw);
                    table[row + quarter + i] = (float)Math.Cos(aw);
                    table[row + 2 * quarter + i] = (float)Math.Sin(ah);
                    table[row + 3 * quarter + i] = (float)Math.Cos(ah);
                }
            }
        });
        return table;
    }

    /// <summary>
    /// The frequencies of diffusers' get_timestep_embedding (max_period 10000): exp(-ln(10000) i / (half - shift)),
    /// computed in float32 as torch does.
    /// </summary>
    public static float[] TimestepFrequencies(int dim, double downscaleFreqShift = 0)
    {
        int half = dim / 2;
        var f = new float[half];
        float minusLogPeriod = (float)-Math.Log(10000.0);
        for (int i = 0; i < half; i++) f[i] = MathF.Exp(minusLogPeriod * i / (float)(half - downscaleFreqShift));
        return f;
    }

    /// <summary>
    /// T5's _relative_position_bucket for relative position (key - query), in float32 as transformers computes
    /// it: bidirectional halves the buckets (the upper half for positive offsets); offsets below half of that are
    /// exact; larger ones are log-spaced up to <paramref name="maxDistance"/>, beyond which they share the last bucket.
    /// </summary>
    public static int T5Bucket(int relativePosition, int numBuckets, int maxDistance, bool bidirectional = true)
    {
        int bucket = 0, n;
        if (bidirectional)
        {
            numBuckets /= 2;
            if (relativePosition > 0) bucket += numBuckets;
            n = Math.Abs(relativePosition);
        }
        else n = -Math.Min(relativePosition, 0);
        int maxExact = numBuckets / 2;
        if (n < maxExact) return bucket + n;
        float ratio = (float)n / maxExact;
        float scaled = MathF.Log(ratio) / (float)Math.Log((double)maxDistance / maxExact) * (numBuckets - maxExact);
        int large = Math.Min(maxExact + (int)scaled, numBuckets - 1);
        return bucket + large;
    }

    /// <summary>Buckets for relative positions -maxDistance..maxDistance (entry r + maxDistance); farther ones equal the ends.</summary>
    public static long[] T5BucketTable(int numBuckets, int maxDistance, bool bidirectional = true)
    {
        var t = new long[2 * maxDistance + 1];
        for (int r = -maxDistance; r <= maxDistance; r++) t[r + maxDistance] = T5Bucket(r, numBuckets, maxDistance, bidirectional);
        return t;
    }
}
