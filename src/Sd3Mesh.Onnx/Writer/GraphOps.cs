using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Writer;

/// <summary>
/// Common ONNX operators as one-line calls on a <see cref="GraphBuilder"/>, hiding the differences
/// between opset versions (e.g. ReduceMean's axes became an input in opset 18).
/// </summary>
public static class GraphOps
{
    // Element-wise arithmetic (numpy broadcasting).
    public static Value Add(this GraphBuilder g, Value a, Value b) => g.Op("Add", [a, b]);
    public static Value Sub(this GraphBuilder g, Value a, Value b) => g.Op("Sub", [a, b]);
    public static Value Mul(this GraphBuilder g, Value a, Value b) => g.Op("Mul", [a, b]);
    public static Value Div(this GraphBuilder g, Value a, Value b) => g.Op("Div", [a, b]);
    public static Value Pow(this GraphBuilder g, Value a, Value b) => g.Op("Pow", [a, b]);
    public static Value MatMul(this GraphBuilder g, Value a, Value b) => g.Op("MatMul", [a, b]);
    public static Value Neg(this GraphBuilder g, Value x) => g.Op("Neg", [x]);
    public static Value Sqrt(this GraphBuilder g, Value x) => g.Op("Sqrt", [x]);
    public static Value Exp(this GraphBuilder g, Value x) => g.Op("Exp", [x]);
    public static Value Tanh(this GraphBuilder g, Value x) => g.Op("Tanh", [x]);
    public static Value Sigmoid(this GraphBuilder g, Value x) => g.Op("Sigmoid", [x]);
    public static Value Erf(this GraphBuilder g, Value x) => g.Op("Erf", [x]);
    public static Value Sin(this GraphBuilder g, Value x) => g.Op("Sin", [x]);
    public static Value Cos(this GraphBuilder g, Value x) => g.Op("Cos", [x]);
    public static Value Reciprocal(this GraphBuilder g, Value x) => g.Op("Reciprocal", [x]);
    public static Value Where(this GraphBuilder g, Value condition, Value x, Value y) => g.Op("Where", [condition, x, y]);
    public static Value Equal(this GraphBuilder g, Value a, Value b) => g.Op("Equal", [a, b]);

    /// <summary>A 0-d constant of the given dtype (so fp16 graphs get fp16 constants).</summary>
    public static Value Scalar(this GraphBuilder g, double value, DType dtype = DType.Float32) =>
        g.Constant(Tensor.FromArray(new[] { (float)value }, TensorShape.Scalar).ToDType(dtype), "scalar");

    /// <summary>A 1-d int64 constant (shapes, axes, indices).</summary>
    public static Value Int64s(this GraphBuilder g, params long[] values) =>
        g.Constant(Tensor.FromArray(values, values.Length), "ints");

    public static Value Cast(this GraphBuilder g, Value x, DType to) => g.Op("Cast", [x], ("to", (long)to));

    // Shape manipulation.
    public static Value Reshape(this GraphBuilder g, Value x, params long[] shape) => g.Op("Reshape", [x, g.Int64s(shape)]);
    public static Value Reshape(this GraphBuilder g, Value x, Value shape) => g.Op("Reshape", [x, shape]);
    public static Value Transpose(this GraphBuilder g, Value x, params long[] perm) => g.Op("Transpose", [x], ("perm", perm));
    public static Value Concat(this GraphBuilder g, long axis, params Value[] parts) => g.Op("Concat", parts, ("axis", axis));
    public static Value Unsqueeze(this GraphBuilder g, Value x, params long[] axes) => g.Op("Unsqueeze", [x, g.Int64s(axes)]);
    public static Value Squeeze(this GraphBuilder g, Value x, params long[] axes) => g.Op("Squeeze", [x, g.Int64s(axes)]);
    public static Value Shape(this GraphBuilder g, Value x) => g.Op("Shape", [x]);
    public static Value Expand(this GraphBuilder g, Value x, Value shape) => g.Op("Expand", [x, shape]);
    public static Value Gather(this GraphBuilder g, Value data, Value indices, long axis = 0) =>
        g.Op("Gather", [data, indices], ("axis", axis));

    /// <summary>Slice with constant bounds (use long.MaxValue for "to the end").</summary>
    public static Value Slice(this GraphBuilder g, Value x, long[] starts, long[] ends, long[] axes, long[]? steps = null) =>
        steps is null
            ? g.Op("Slice", [x, g.Int64s(starts), g.Int64s(ends), g.Int64s(axes)])
            : g.Op("Slice", [x, g.Int64s(starts), g.Int64s(ends), g.Int64s(axes), g.Int64s(steps)]);

    /// <summary>Splits along <paramref name="axis"/> into parts of the given sizes.</summary>
    public static Value[] Split(this GraphBuilder g, Value x, long axis, params long[] sizes) =>
        g.Op("Split", sizes.Length, [x, g.Int64s(sizes)], ("axis", axis));

    // Reductions: the axes argument moved from attribute to input in opset 18 (ReduceSum: opset 13).
    public static Value ReduceMean(this GraphBuilder g, Value x, long[] axes, bool keepDims = true) =>
        g.Opset >= 18
            ? g.Op("ReduceMean", [x, g.Int64s(axes)], ("keepdims", keepDims ? 1L : 0L))
            : g.Op("ReduceMean", [x], ("axes", axes), ("keepdims", keepDims ? 1L : 0L));

    public static Value ReduceSum(this GraphBuilder g, Value x, long[] axes, bool keepDims = true) =>
        g.Op("ReduceSum", [x, g.Int64s(axes)], ("keepdims", keepDims ? 1L : 0L));

    public static Value ReduceMax(this GraphBuilder g, Value x, long[] axes, bool keepDims = true) =>
        g.Opset >= 18
            ? g.Op("ReduceMax", [x, g.Int64s(axes)], ("keepdims", keepDims ? 1L : 0L))
            : g.Op("ReduceMax", [x], ("axes", axes), ("keepdims", keepDims ? 1L : 0L));

    // Neural-network operators.
    public static Value Softmax(this GraphBuilder g, Value x, long axis = -1) => g.Op("Softmax", [x], ("axis", axis));

    /// <summary>LayerNormalization over the trailing axes from <paramref name="axis"/> (opset 17).</summary>
    public static Value LayerNorm(this GraphBuilder g, Value x, Value scale, Value bias, float epsilon = 1e-5f, long axis = -1) =>
        g.Op("LayerNormalization", [x, scale, bias], ("axis", axis), ("epsilon", epsilon));

    /// <summary>2-D convolution; <paramref name="pads"/> as ONNX orders them: [top, left, bottom, right].</summary>
    public static Value Conv(this GraphBuilder g, Value x, Value weight, Value bias, long[] strides, long[] pads, long group = 1) =>
        g.Op("Conv", [x, weight, bias], ("strides", strides), ("pads", pads), ("group", group));

    /// <summary>Nearest-neighbour upsampling by an integer factor on the two spatial axes of NCHW.</summary>
    public static Value UpsampleNearest(this GraphBuilder g, Value x, float factor) =>
        g.Op("Resize", [x, Value.None, g.Constant(Tensor.FromArray(new[] { 1f, 1f, factor, factor }, 4), "scales")],
            ("mode", "nearest"), ("nearest_mode", "floor"), ("coordinate_transformation_mode", "asymmetric"));
}
