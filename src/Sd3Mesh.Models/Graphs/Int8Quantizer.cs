namespace Sd3Mesh.Models.Graphs;

/// <summary>
/// Symmetric per-output-channel int8 weight quantization: scale[o] = max|W[o, :]| / 127,
/// q = round(W / scale) in [-127, 127]; dequantized as q * scale. Output layout [in, out] (MatMul's).
/// </summary>
public static class Int8Quantizer
{
    /// <param name="weight">PyTorch layout [out, in], row-major.</param>
    public static (sbyte[] Values, float[] Scales) Quantize(float[] weight, long outFeatures, long inFeatures)
    {
        var scales = new float[outFeatures];
        var q = new sbyte[weight.Length];
        Parallel.For(0, (int)outFeatures, o =>
        {
            var row = weight.AsSpan((int)(o * inFeatures), (int)inFeatures);
            float max = Math.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(row)); // the signed value of largest magnitude
            float scale = max > 0 ? max / 127f : 1f;
            scales[o] = scale;
            for (int i = 0; i < row.Length; i++)
                q[(long)i * outFeatures + o] = (sbyte)Math.Clamp(MathF.Round(row[i] / scale, MidpointRounding.ToEven), -127f, 127f);
        });
        return (q, scales);
    }
}
