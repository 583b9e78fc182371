using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Onnx;

/// <summary>How the two guidance passes reach the transformer on the device.</summary>
public enum GuidanceLayout
{
    /// <summary>No guidance: one pass of batch B.</summary>
    None,
    /// <summary>One pass of batch 2B, negative rows first.</summary>
    Batched,
    /// <summary>Two passes of batch B (negative, positive), each with its own embeddings.</summary>
    Split,
}

/// <summary>The shapes and element types a device-resident denoising loop is built for.</summary>
/// <param name="LatentShape">[B, C, h, w], the job's float32 latents</param>
/// <param name="ModelDType">the transformer's hidden_states / out_hidden_states element type</param>
/// <param name="TimestepDType">the transformer's timestep element type</param>
public sealed record StepLayout(GuidanceLayout Guidance, TensorShape LatentShape, DType ModelDType, DType TimestepDType)
{
    /// <summary>The transformer's batch: 2B for batched guidance, else B.</summary>
    public long TransformerBatch => Guidance == GuidanceLayout.Batched ? 2 * LatentShape[0] : LatentShape[0];

    public TensorShape TransformerShape => LatentShape.With(0, TransformerBatch);
}

/// <summary>
/// The device's half of a denoising step as two small ONNX graphs, written with Sd3Mesh's ONNX writer and run with
/// IoBinding after the transformer, so latents never leave the device between steps:
/// <list type="bullet">
/// <item><b>prepare</b> (once per job): x_host float32 [B, C, h, w] and t -> x (the float32 latents, now on the
/// device), model_in (the transformer's hidden_states: cast to its dtype, twice along the batch for batched
/// guidance) and timestep ([2B] or [B], in its dtype);</item>
/// <item><b>step</b>: x, the transformer's output (v, or u and c for split guidance), scale, dt = sigma[i+1] - sigma[i]
/// and the next timestep -> x_next, the next model_in and timestep.</item>
/// </list>
/// The math is the host loop's, in float32 and in the same order, as diffusers (whose scheduler upcasts the sample to
/// float32): velocity = float32(out); guided = u + scale * (c - u); x_next = x + dt * guided.
/// </summary>
public static class DenoiseStepGraphs
{
    public const int Opset = 17;

    public static byte[] Prepare(StepLayout layout)
    {
        var g = new GraphBuilder("denoise_prepare", Opset);
        var x = g.Input("x_host", DType.Float32, Dims(layout.LatentShape));
        var t = g.Input("t", DType.Float32);
        g.Output(g.Op("Identity", [x]), "x", DType.Float32, Dims(layout.LatentShape));
        ModelInputs(g, layout, x, t);
        return g.Build().ToBytes();
    }

    public static byte[] Step(StepLayout layout)
    {
        var g = new GraphBuilder("denoise_step", Opset);
        var dims = Dims(layout.LatentShape);
        var x = g.Input("x", DType.Float32, dims);
        Value velocity;
        if (layout.Guidance == GuidanceLayout.Split)
        {
            var u = Float32(g, g.Input("u", layout.ModelDType, dims), layout.ModelDType);
            var c = Float32(g, g.Input("c", layout.ModelDType, dims), layout.ModelDType);
            velocity = Guide(g, u, c);
        }
        else
        {
            var v = Float32(g, g.Input("v", layout.ModelDType, Dims(layout.TransformerShape)), layout.ModelDType);
            if (layout.Guidance == GuidanceLayout.Batched)
            {
                long b = layout.LatentShape[0];
                var halves = g.Split(v, 0, b, b); // negative rows first
                velocity = Guide(g, halves[0], halves[1]);
            }
            else
            {
                velocity = v;
            }
        }
        var xNext = g.Add(x, g.Mul(g.Input("dt", DType.Float32), velocity));
        g.Output(xNext, "x_next", DType.Float32, dims);
        ModelInputs(g, layout, xNext, g.Input("t_next", DType.Float32));
        return g.Build().ToBytes();
    }

    /// <summary>uncond + scale * (cond - uncond), each op rounded to float32 as torch does.</summary>
    private static Value Guide(GraphBuilder g, Value uncond, Value cond) =>
        g.Add(uncond, g.Mul(g.Input("scale", DType.Float32), g.Sub(cond, uncond)));

    /// <summary>The transformer's next inputs from float32 latents <paramref name="x"/> and timestep <paramref name="t"/>.</summary>
    private static void ModelInputs(GraphBuilder g, StepLayout layout, Value x, Value t)
    {
        var cast = layout.ModelDType == DType.Float32 ? x : g.Cast(x, layout.ModelDType);
        var modelIn = layout.Guidance == GuidanceLayout.Batched ? g.Concat(0, cast, cast)
            : layout.ModelDType == DType.Float32 ? g.Op("Identity", [x]) // an output of its own, not x_next again
            : cast;
        g.Output(modelIn, "model_in", layout.ModelDType, Dims(layout.TransformerShape));
        var timestep = g.Expand(t, g.Int64s(layout.TransformerBatch));
        if (layout.TimestepDType != DType.Float32) timestep = g.Cast(timestep, layout.TimestepDType);
        g.Output(timestep, "timestep", layout.TimestepDType, layout.TransformerBatch);
    }

    private static Value Float32(GraphBuilder g, Value v, DType dtype) => dtype == DType.Float32 ? v : g.Cast(v, DType.Float32);

    private static Dim[] Dims(TensorShape shape) => [.. shape.ToArray().Select(d => (Dim)d)];
}
