using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Diagnostics;

/// <summary>One numeric self-check: a small model, its inputs, and the float64 reference of its output.</summary>
public sealed record SelfCheckCase(
    string Name,
    DType DType,
    byte[] Model,
    IReadOnlyDictionary<string, Tensor> Inputs,
    string OutputName,
    TensorShape OutputShape,
    double[] Expected,
    double Tolerance);

/// <summary>
/// The outcome of a self-check on one device: errors against the reference, and the verdict. <see cref="Math"/> says
/// which arithmetic ran ("float32", "tf32" for float32 on CUDA with TF32 allowed, "float16"), and the tolerance is
/// the one of that arithmetic.
/// </summary>
public sealed record SelfCheckResult(
    string Name,
    DType DType,
    Device Device,
    string Math,
    double RelativeL2Error,
    double MaxAbsError,
    double Tolerance,
    bool Passed,
    string? Error,
    TimeSpan Elapsed);

/// <summary>
/// Numeric self-checks of ONNX Runtime on a device: MatMul+Add, Softmax, LayerNormalization and Conv, in
/// float32 and float16, each compared with a float64 C# reference (<see cref="ReferenceMath"/>) computed
/// from the very inputs the model gets (so float16 inputs are rounded first and only ONNX Runtime's
/// arithmetic is measured). Metric: relative L2 error ||y - ref|| / ||ref||; tolerances
/// <see cref="Float32Tolerance"/> and <see cref="Float16Tolerance"/> (float16 arithmetic carries ~1e-3). With TF32
/// allowed on CUDA (<see cref="SessionSettings.Tf32"/>), float32 MatMul and Conv round their inputs to 10-bit
/// mantissas (unit roundoff 4.9e-4), so those float32 checks report "tf32" and use <see cref="Tf32Tolerance"/>.
/// Used by <c>sd3mesh doctor --check DEVICE [--tf32]</c> and by the tests.
/// </summary>
public static class SelfChecks
{
    public const double Float32Tolerance = 1e-5;
    public const double Tf32Tolerance = 2e-3;
    public const double Float16Tolerance = 1e-2;

    public static double ToleranceFor(DType dtype) => dtype == DType.Float32 ? Float32Tolerance : Float16Tolerance;

    /// <summary>Which arithmetic a check runs in on <paramref name="device"/>: TF32 touches only float32 MatMul and Conv on CUDA.</summary>
    public static string MathOf(SelfCheckCase check, Device device, bool tf32) =>
        check.DType != DType.Float32 ? check.DType.Name()
        : tf32 && device.IsCuda && check.Name is "MatMul+Add" or "Conv" ? "tf32"
        : "float32";

    private static double ToleranceOf(string math, SelfCheckCase check) => math == "tf32" ? Tf32Tolerance : check.Tolerance;

    /// <summary>Every check, float32 then float16.</summary>
    public static IReadOnlyList<SelfCheckCase> All() => [.. Cases(DType.Float32), .. Cases(DType.Float16)];

    public static IReadOnlyList<SelfCheckCase> Cases(DType dtype) =>
        [MatMulAdd(dtype), Softmax(dtype), LayerNorm(dtype), Conv(dtype)];

    /// <summary>
    /// Runs one check on <paramref name="device"/> (with TF32 allowed when <paramref name="tf32"/>); a failure to
    /// create or run the session is a failed check.
    /// </summary>
    public static SelfCheckResult Run(Device device, SelfCheckCase check, bool tf32 = false)
    {
        var watch = Stopwatch.StartNew();
        string math = MathOf(check, device, tf32);
        double tolerance = ToleranceOf(math, check);
        try
        {
            using var session = OnnxSession.Create(check.Model, new SessionSettings { Device = device, Tf32 = tf32 });
            var output = session.Run(check.Inputs, [check.OutputName])[check.OutputName];
            if (output.Shape != check.OutputShape)
                return Failed($"output shape {output.Shape}, expected {check.OutputShape}");
            var actual = output.ToFloatArray();
            double rel = ReferenceMath.RelativeL2Error(actual, check.Expected);
            double max = ReferenceMath.MaxAbsError(actual, check.Expected);
            return new SelfCheckResult(check.Name, check.DType, device, math, rel, max, tolerance, rel <= tolerance, null, watch.Elapsed);
        }
        catch (Exception e) when (e is OnnxRuntimeException or DeviceUnavailableException or ArgumentException)
        {
            return Failed(e.Message);
        }

        SelfCheckResult Failed(string error) =>
            new(check.Name, check.DType, device, math, double.NaN, double.NaN, tolerance, false, error, watch.Elapsed);
    }

    /// <summary>Runs every check on <paramref name="device"/>, reporting each result as it comes.</summary>
    public static IReadOnlyList<SelfCheckResult> RunAll(Device device, bool tf32 = false, Action<SelfCheckResult>? onResult = null)
    {
        var results = new List<SelfCheckResult>();
        foreach (var check in All())
        {
            var result = Run(device, check, tf32);
            onResult?.Invoke(result);
            results.Add(result);
        }
        return results;
    }

    // y = x . W + b with x [batch, 64] (batch symbolic, run with 2), W [64, 48], b [48].
    private static SelfCheckCase MatMulAdd(DType dtype)
    {
        const int batch = 2, k = 64, n = 48;
        var x = Random(dtype, 1, [batch, k]);
        var w = Random(dtype, 2, [k, n]);
        var b = Random(dtype, 3, [n]);
        var g = new GraphBuilder("selfcheck_matmul_add");
        var y = g.Add(g.MatMul(g.Input("x", dtype, "batch", k), g.Initializer("w", w)), g.Initializer("b", b));
        g.Output(y, "y", dtype, "batch", n);
        var expected = ReferenceMath.AddRows(ReferenceMath.MatMul(D(x), D(w), batch, k, n), D(b));
        return new("MatMul+Add", dtype, g.Build().ToBytes(), In(("x", x)), "y", new TensorShape(batch, n), expected, ToleranceFor(dtype));
    }

    // Softmax over the last axis of [4, 37], logits spread over about +-9.
    private static SelfCheckCase Softmax(DType dtype)
    {
        const int rows = 4, cols = 37;
        var x = Random(dtype, 4, [rows, cols], scale: 3);
        var g = new GraphBuilder("selfcheck_softmax");
        g.Output(g.Softmax(g.Input("x", dtype, rows, cols)), "y", dtype, rows, cols);
        return new("Softmax", dtype, g.Build().ToBytes(), In(("x", x)), "y", new TensorShape(rows, cols),
            ReferenceMath.Softmax(D(x), rows, cols), ToleranceFor(dtype));
    }

    // LayerNormalization over the last axis of [3, 5, 64] with scale and bias, epsilon 1e-5.
    private static SelfCheckCase LayerNorm(DType dtype)
    {
        const int a = 3, b = 5, c = 64;
        var x = Random(dtype, 5, [a, b, c], scale: 2, offset: 0.5f);
        var scale = Random(dtype, 6, [c]);
        var bias = Random(dtype, 7, [c]);
        var g = new GraphBuilder("selfcheck_layernorm");
        var y = g.LayerNorm(g.Input("x", dtype, a, b, c), g.Initializer("scale", scale), g.Initializer("bias", bias), 1e-5f);
        g.Output(y, "y", dtype, a, b, c);
        return new("LayerNormalization", dtype, g.Build().ToBytes(), In(("x", x)), "y", new TensorShape(a, b, c),
            ReferenceMath.LayerNorm(D(x), D(scale), D(bias), a * b, c, 1e-5), ToleranceFor(dtype));
    }

    // Conv 3x3, stride 2, padding 1: x [1, 3, 9, 9], W [8, 3, 3, 3], b [8] -> [1, 8, 5, 5].
    private static SelfCheckCase Conv(DType dtype)
    {
        const int cIn = 3, h = 9, w = 9, cOut = 8, kSize = 3, stride = 2, pad = 1;
        var x = Random(dtype, 8, [1, cIn, h, w]);
        var weight = Random(dtype, 9, [cOut, cIn, kSize, kSize], scale: 0.3f);
        var bias = Random(dtype, 10, [cOut]);
        var expected = ReferenceMath.Conv2d(D(x), D(weight), D(bias), 1, cIn, h, w, cOut, kSize, kSize, stride, pad, out int oh, out int ow);
        var g = new GraphBuilder("selfcheck_conv");
        var y = g.Conv(g.Input("x", dtype, 1, cIn, h, w), g.Initializer("w", weight), g.Initializer("b", bias),
            [stride, stride], [pad, pad, pad, pad]);
        g.Output(y, "y", dtype, 1, cOut, oh, ow);
        return new("Conv", dtype, g.Build().ToBytes(), In(("x", x)), "y", new TensorShape(1, cOut, oh, ow), expected, ToleranceFor(dtype));
    }

    /// <summary>Seeded normal values (times <paramref name="scale"/>, plus <paramref name="offset"/>) in <paramref name="dtype"/>.</summary>
    private static Tensor Random(DType dtype, ulong stream, long[] shape, float scale = 1, float offset = 0)
    {
        var values = new float[new TensorShape(shape).ElementCount];
        SeededRandom.FillNormal(values, seed: 20261122, stream);
        for (int i = 0; i < values.Length; i++) values[i] = values[i] * scale + offset;
        return Tensor.FromArray(values, shape).AsDType(dtype);
    }

    /// <summary>The tensor's values as float64 (exactly the values the model sees).</summary>
    private static double[] D(Tensor t) => Array.ConvertAll(t.ToFloatArray(), v => (double)v);

    private static IReadOnlyDictionary<string, Tensor> In(params (string Name, Tensor Value)[] inputs) =>
        inputs.ToDictionary(i => i.Name, i => i.Value, StringComparer.Ordinal);
}
