using Sd3Mesh.Models.Weights;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Models.Graphs;

/// <summary>How graphs compute attention without masks or biases (MMDiT, VAE).</summary>
public enum AttentionKernel
{
    /// <summary>Standard ONNX only: attention as MatMul, Softmax (fp32), MatMul; GELU and SiLU as elementwise ops.</summary>
    MatMulSoftmax,
    /// <summary>
    /// ONNX Runtime's com.microsoft fused operators where the CPU and CUDA providers both have them: MultiHeadAttention
    /// (fused attention kernels), FastGelu with the preceding Linear's bias, QuickGelu(alpha 1) for SiLU.
    /// </summary>
    ContribMultiHeadAttention,
}

public static class AttentionKernels
{
    /// <summary>
    /// What created and converted models use unless told otherwise: the contrib kernel ran the SD3 Medium
    /// transformer step 13x faster than MatMul/Softmax on ORT 1.30's WebGPU EP (docs/benchmarks.md), and
    /// the CPU EP has it too. Plain graphs remain available for runtimes without ORT's contrib operators.
    /// </summary>
    public const AttentionKernel Default = AttentionKernel.ContribMultiHeadAttention;

    public static string Name(this AttentionKernel kernel) =>
        kernel == AttentionKernel.ContribMultiHeadAttention ? "contrib" : "plain";
}

/// <summary>
/// The building blocks shared by every SD3 submodule graph: weights by state-dict name, Linear, norms,
/// convolutions, activations and attention, in the graph's precision.
///
/// Stored layouts: initializers keep their diffusers/transformers state-dict names. Linear weights are stored
/// transposed, [in, out], so that MatMul consumes them directly; everything else keeps PyTorch's layout
/// (conv [out, in, kh, kw], embeddings [vocab, dim]); norm weights may be stored with trailing 1s for
/// broadcasting ([C, 1, 1]), which is the same data.
///
/// Mixed precision (fp16 graphs): weights and activations are fp16. Layer and group norms take fp16 tensors and keep
/// their statistics in fp32 inside the operator; RMS norm and softmax (with its additive masks and biases) run in fp32
/// behind Casts. Norm parameters are stored fp32.
/// </summary>
public sealed class ModelGraph
{
    private readonly List<WeightRequest> _requests = [];

    public ModelGraph(GraphBuilder graph, DType dtype, IWeightSource weights, AttentionKernel attention = AttentionKernel.MatMulSoftmax)
    {
        Kernel = attention;
        if (dtype is not (DType.Float32 or DType.Float16))
            throw new ArgumentException($"model precision must be float32 or float16, not {dtype.Name()}", nameof(dtype));
        G = graph;
        DType = dtype;
        Weights = weights;
    }

    public GraphBuilder G { get; }
    /// <summary>Precision of weights and activations.</summary>
    public DType DType { get; }
    public IWeightSource Weights { get; }
    /// <summary>How unmasked attention is computed (<see cref="MultiHeadAttention"/>).</summary>
    public AttentionKernel Kernel { get; }

    /// <summary>
    /// Unmasked MatMul/Softmax attention runs in groups of at most this many heads, which bounds the largest
    /// intermediate, the fp32 score matrix: SD3 Medium at 1024x1024 and batch 2 holds 3.8 GB of scores for all 24
    /// heads at once, more than GPU APIs such as WebGPU may bind as one buffer; groups of 8 hold 1.26 GB.
    /// </summary>
    public int MaxHeadsPerGroup { get; init; } = 8;
    public bool IsHalf => DType == DType.Float16;
    /// <summary>Every weight asked for so far (state-dict name, PyTorch shape): checkpoints are verified against it.</summary>
    public IReadOnlyList<WeightRequest> Requests => _requests;

    public IDisposable Scope(string name) => G.Scope(name);

    // ---- Weights ------------------------------------------------------------------------------------

    /// <summary>
    /// A weight in PyTorch layout (<paramref name="torchShape"/>), optionally stored with another shape of the
    /// same elements (<paramref name="graphShape"/>) and in another dtype than the model's.
    /// </summary>
    public Value Param(string name, long[] torchShape, WeightInit init, DType? dtype = null, long[]? graphShape = null)
    {
        var full = G.Qualify(name);
        var shape = new TensorShape(torchShape);
        var stored = graphShape is null ? shape : new TensorShape(graphShape);
        if (stored.ElementCount != shape.ElementCount)
            throw new ArgumentException($"weight '{full}': stored shape {stored} does not hold {shape}");
        _requests.Add(new WeightRequest(full, shape, init));
        var type = dtype ?? DType;
        var source = Weights;
        return G.Initializer(name, type, stored, () => ToTensor(source.Read(full, shape, init), stored, type));
    }

    /// <summary>A Linear weight ([out, in] in PyTorch) stored transposed as [in, out].</summary>
    public Value LinearWeight(string name, long inFeatures, long outFeatures, WeightInit init, DType? dtype = null)
    {
        var full = G.Qualify(name);
        var shape = new TensorShape(outFeatures, inFeatures);
        _requests.Add(new WeightRequest(full, shape, init));
        var type = dtype ?? DType;
        var source = Weights;
        return G.Initializer(name, type, new TensorShape(inFeatures, outFeatures),
            () => ToTensor(Transpose(source.Read(full, shape, init), outFeatures, inFeatures), new TensorShape(inFeatures, outFeatures), type));
    }

    /// <summary>
    /// A Linear weight stored as int8 [in, out] with per-output-channel symmetric scales ("name_scale", fp32 [out]),
    /// dequantized in the graph (DequantizeLinear, axis 1) and cast to <paramref name="computeType"/>.
    /// </summary>
    public Value QuantizedLinearWeight(string name, long inFeatures, long outFeatures, WeightInit init, DType computeType)
    {
        var full = G.Qualify(name);
        var shape = new TensorShape(outFeatures, inFeatures);
        _requests.Add(new WeightRequest(full, shape, init));
        var source = Weights;
        float[]? pendingScales = null; // Save materializes the weight, then its scales: read the checkpoint once
        var q = G.Initializer(name, DType.Int8, new TensorShape(inFeatures, outFeatures), () =>
        {
            var (values, scales) = Int8Quantizer.Quantize(source.Read(full, shape, init), outFeatures, inFeatures);
            pendingScales = scales;
            return Tensor.FromArray(values, inFeatures, outFeatures);
        });
        var s = G.Initializer(name + "_scale", DType.Float32, new TensorShape(outFeatures), () =>
        {
            var scales = pendingScales ?? Int8Quantizer.Quantize(source.Read(full, shape, init), outFeatures, inFeatures).Scales;
            pendingScales = null;
            return Tensor.FromArray(scales, outFeatures);
        });
        var w = G.Op("DequantizeLinear", [q, s], ("axis", 1L));
        return computeType == DType.Float32 ? w : G.Cast(w, computeType);
    }

    internal static Tensor ToTensor(float[] values, TensorShape shape, DType dtype)
    {
        var t = Tensor.FromArray(values, shape);
        return dtype == DType.Float32 ? t : t.ToDType(dtype);
    }

    /// <summary>Row-major [rows, cols] -> [cols, rows], in blocks for cache locality.</summary>
    public static float[] Transpose(float[] a, long rows, long cols)
    {
        var t = new float[a.Length];
        const int B = 64;
        int r = (int)rows, c = (int)cols;
        Parallel.For(0, (r + B - 1) / B, bi =>
        {
            int r0 = bi * B, r1 = Math.Min(r, r0 + B);
            for (int c0 = 0; c0 < c; c0 += B)
            {
                int c1 = Math.Min(c, c0 + B);
                for (int i = r0; i < r1; i++)
                    for (int j = c0; j < c1; j++)
                        t[(long)j * r + i] = a[(long)i * c + j];
            }
        });
        return t;
    }

    // ---- Layers ------------------------------------------------------------------------------------

    /// <summary>y = x W^T + b for a PyTorch nn.Linear named <paramref name="name"/> (weights "name.weight", "name.bias").</summary>
    public Value Linear(Value x, string name, long inFeatures, long outFeatures, WeightInit weight, bool bias = true, WeightInit? biasInit = null)
    {
        using var _ = Scope(name);
        var y = G.MatMul(x, LinearWeight("weight", inFeatures, outFeatures, weight));
        return bias ? G.Add(y, Param("bias", [outFeatures], biasInit ?? WeightInit.Zeros)) : y;
    }

    /// <summary>y = x W^T with an int8 weight-only quantized W (no bias: T5's projections have none).</summary>
    public Value QuantizedLinear(Value x, string name, long inFeatures, long outFeatures, WeightInit weight, DType computeType)
    {
        using var _ = Scope(name);
        return G.MatMul(x, QuantizedLinearWeight("weight", inFeatures, outFeatures, weight, computeType));
    }

    /// <summary>
    /// LayerNorm over the last axis. fp16 tensors are normalized as they are: LayerNormalization's stash_type 1
    /// (the default) keeps mean and variance in fp32, as PyTorch's layer_norm does for half inputs, so no Casts
    /// around it (they were two of its three full-tensor passes). With <paramref name="name"/> null: no affine.
    /// </summary>
    public Value LayerNorm(Value x, string? name, long dim, double eps)
    {
        Value scale, bias;
        if (name is null)
        {
            scale = G.Constant(ToTensor(Enumerable.Repeat(1f, (int)dim).ToArray(), new TensorShape(dim), DType), "ones");
            bias = Value.None;
        }
        else
        {
            using var _ = Scope(name);
            scale = InModelPrecision(Param("weight", [dim], WeightInit.Ones, DType.Float32));
            bias = InModelPrecision(Param("bias", [dim], WeightInit.Zeros, DType.Float32));
        }
        return bias.IsNone
            ? G.Op("LayerNormalization", [x, scale], ("axis", -1L), ("epsilon", (float)eps))
            : G.LayerNorm(x, scale, bias, (float)eps);
    }

    /// <summary>RMS norm (T5LayerNorm, diffusers RMSNorm): x / sqrt(mean(x^2) + eps) * weight, in fp32.</summary>
    public Value RmsNorm(Value x, string name, long dim, double eps)
    {
        var x32 = ToFloat32(x);
        var ms = G.ReduceMean(G.Mul(x32, x32), [-1]);
        var y = G.Div(x32, G.Sqrt(G.Add(ms, G.Scalar(eps))));
        using var _ = Scope(name);
        return FromFloat32(G.Mul(y, Param("weight", [dim], WeightInit.Ones, DType.Float32)));
    }

    /// <summary>
    /// GroupNorm on NCHW, composed (ONNX's GroupNormalization-18 was defined wrongly): reshape to [N, G, -1],
    /// InstanceNormalization (mean/variance per group), reshape back, per-channel affine. fp16 tensors stay fp16:
    /// ORT's CUDA InstanceNormalization keeps its statistics in fp32 (cuDNN), and Casts of these activations,
    /// the VAE's largest, would cost more than the norm (the CPU provider inserts its own casts).
    /// </summary>
    public Value GroupNorm(Value x, string name, long channels, long groups, double eps)
    {
        var grouped = G.Reshape(x, 0, groups, -1);
        var ones = G.Constant(ToTensor(Enumerable.Repeat(1f, (int)groups).ToArray(), new TensorShape(groups), DType), "ones");
        var zeros = G.Constant(ToTensor(new float[groups], new TensorShape(groups), DType), "zeros");
        var normed = G.Op("InstanceNormalization", [grouped, ones, zeros], ("epsilon", (float)eps));
        var y = G.Reshape(normed, G.Shape(x));
        using var _ = Scope(name);
        var gamma = InModelPrecision(Param("weight", [channels], WeightInit.Ones, DType.Float32, [channels, 1, 1]));
        var beta = InModelPrecision(Param("bias", [channels], WeightInit.Zeros, DType.Float32, [channels, 1, 1]));
        return G.Add(G.Mul(y, gamma), beta);
    }

    /// <summary>nn.Conv2d (weights "name.weight" [out, in, k, k], "name.bias" [out]). Pads: [top, left, bottom, right].</summary>
    public Value Conv2d(Value x, string name, long inChannels, long outChannels, long kernel, long stride, long[] pads, WeightInit? weight = null)
    {
        using var _ = Scope(name);
        var w = Param("weight", [outChannels, inChannels, kernel, kernel], weight ?? WeightInit.Normal(1.0 / Math.Sqrt(inChannels * kernel * kernel)));
        var b = Param("bias", [outChannels], WeightInit.Zeros);
        return G.Conv(x, w, b, [stride, stride], pads);
    }

    // ---- Activations --------------------------------------------------------------------------------

    /// <summary>ONNX Runtime's contrib operators may be used (<see cref="AttentionKernel.ContribMultiHeadAttention"/>).</summary>
    public bool Contrib => Kernel == AttentionKernel.ContribMultiHeadAttention;

    /// <summary>SiLU, x * sigmoid(x): one QuickGelu(alpha 1) kernel with contrib operators, else two ops.</summary>
    public Value Silu(Value x)
    {
        if (!Contrib) return G.Mul(x, G.Sigmoid(x));
        G.Import("com.microsoft", 1);
        return G.OpIn("com.microsoft", "QuickGelu", 1, [x], ("alpha", 1.0f))[0];
    }

    /// <summary>
    /// GELU(tanh)(x W^T + b) for a Linear named <paramref name="name"/>: with contrib operators one FastGelu kernel
    /// adds the bias and applies the activation (the decomposed form is 9 elementwise passes over the 4x-wide
    /// feed-forward activations, most of a transformer step's elementwise time).
    /// </summary>
    public Value LinearGeluTanh(Value x, string name, long inFeatures, long outFeatures, WeightInit weight)
    {
        if (!Contrib) return GeluTanh(Linear(x, name, inFeatures, outFeatures, weight));
        using var _ = Scope(name);
        var y = G.MatMul(x, LinearWeight("weight", inFeatures, outFeatures, weight));
        G.Import("com.microsoft", 1);
        return G.OpIn("com.microsoft", "FastGelu", 1, [y, Param("bias", [outFeatures], WeightInit.Zeros)])[0];
    }

    /// <summary>GELU, tanh approximation (diffusers GELU(approximate="tanh"), transformers gelu_new).</summary>
    public Value GeluTanh(Value x)
    {
        var cube = G.Mul(G.Mul(x, x), x);
        var inner = G.Mul(G.Add(x, G.Mul(cube, Scalar(0.044715))), Scalar(Math.Sqrt(2.0 / Math.PI)));
        return G.Mul(G.Mul(x, Scalar(0.5)), G.Add(G.Tanh(inner), Scalar(1.0)));
    }

    /// <summary>GELU, exact (erf) form.</summary>
    public Value Gelu(Value x) =>
        G.Mul(G.Mul(x, Scalar(0.5)), G.Add(G.Erf(G.Mul(x, Scalar(1.0 / Math.Sqrt(2.0)))), Scalar(1.0)));

    /// <summary>CLIP's quick_gelu: x * sigmoid(1.702 x).</summary>
    public Value QuickGelu(Value x) => G.Mul(x, G.Sigmoid(G.Mul(x, Scalar(1.702))));

    public Value Relu(Value x) => G.Op("Relu", [x]);

    /// <summary>An activation by its transformers/diffusers name.</summary>
    public Value Activation(Value x, string name) => name switch
    {
        "gelu_new" or "gelu_pytorch_tanh" or "gelu-approximate" => GeluTanh(x),
        "gelu" => Gelu(x),
        "quick_gelu" => QuickGelu(x),
        "relu" => Relu(x),
        "silu" or "swish" => Silu(x),
        _ => throw new NotSupportedException($"activation '{name}' is not supported"),
    };

    // ---- Attention ----------------------------------------------------------------------------------

    /// <summary>[B, L, H*d] -> [B, H, L, d].</summary>
    public Value SplitHeads(Value x, long heads, long headDim) =>
        G.Transpose(G.Reshape(x, 0, 0, heads, headDim), 0, 2, 1, 3);

    /// <summary>[B, H, L, d] -> [B, L, H*d].</summary>
    public Value MergeHeads(Value x, long heads, long headDim) =>
        G.Reshape(G.Transpose(x, 0, 2, 1, 3), 0, 0, heads * headDim);

    /// <summary>RMS norm of each head's slice of [B, L, H*d] (diffusers' qk-norm), weights "name.weight" [d].</summary>
    public Value HeadRmsNorm(Value x, string name, long heads, long headDim, double eps) =>
        G.Reshape(RmsNorm(G.Reshape(x, 0, 0, heads, headDim), name, headDim, eps), 0, 0, heads * headDim);

    /// <summary>
    /// Multi-head attention on token-major tensors: q [B, Lq, H*d], k, v [B, Lk, H*d] -> [B, Lq, H*d].
    /// <see cref="AttentionKernel.MatMulSoftmax"/> (and any attention with <paramref name="bias32"/>): split heads,
    /// <see cref="Attention"/>, merge. <see cref="AttentionKernel.ContribMultiHeadAttention"/>: ONNX Runtime's
    /// com.microsoft MultiHeadAttention, which fused kernels can run without materializing the scores.
    /// </summary>
    public Value MultiHeadAttention(Value q, Value k, Value v, long heads, long headDim, double? scale, Value? bias32 = null)
    {
        if (Kernel == AttentionKernel.ContribMultiHeadAttention && bias32 is null)
        {
            G.Import("com.microsoft", 1);
            return G.OpIn("com.microsoft", "MultiHeadAttention", 1, [q, k, v], ("num_heads", heads), ("scale", (float)(scale ?? 1.0)))[0];
        }
        var (qh, kh, vh) = (SplitHeads(q, heads, headDim), SplitHeads(k, heads, headDim), SplitHeads(v, heads, headDim));
        if (bias32 is not null || heads <= MaxHeadsPerGroup)
            return MergeHeads(Attention(qh, kh, vh, scale, bias32), heads, headDim);
        var sizes = Enumerable.Range(0, (int)((heads + MaxHeadsPerGroup - 1) / MaxHeadsPerGroup))
            .Select(i => Math.Min(MaxHeadsPerGroup, heads - (long)i * MaxHeadsPerGroup)).ToArray();
        var (qs, ks, vs) = (G.Split(qh, 1, sizes), G.Split(kh, 1, sizes), G.Split(vh, 1, sizes));
        var groups = sizes.Select((_, i) => Attention(qs[i], ks[i], vs[i], scale)).ToArray();
        return MergeHeads(G.Concat(1, groups), heads, headDim);
    }

    /// <summary>
    /// softmax(q k^T * scale + bias) v on [B, H, L, d] tensors. <paramref name="scale"/> null: no scaling (T5).
    /// <paramref name="bias32"/>: an fp32 additive term broadcastable to [B, H, Lq, Lk] (masks, T5's position bias).
    /// Softmax runs in fp32.
    /// </summary>
    public Value Attention(Value q, Value k, Value v, double? scale, Value? bias32 = null)
    {
        if (scale is double s) q = G.Mul(q, Scalar(s));
        var scores = G.MatMul(q, G.Transpose(k, 0, 1, 3, 2));
        var scores32 = ToFloat32(scores);
        if (bias32 is Value b) scores32 = G.Add(scores32, b);
        var probs = FromFloat32(G.Softmax(scores32, -1));
        return G.MatMul(probs, v);
    }

    // ---- Shapes -------------------------------------------------------------------------------------

    /// <summary>Dimension <paramref name="axis"/> of x as a 1-element int64 tensor (Shape with start/end, opset 15).</summary>
    public Value DimOf(Value x, long axis) => G.Op("Shape", [x], ("start", axis), ("end", axis + 1));

    /// <summary>Slice with bounds computed in the graph (1-D int64 values).</summary>
    public Value Slice(Value x, Value starts, Value ends, long[] axes) => G.Op("Slice", [x, starts, ends, G.Int64s(axes)]);

    /// <summary>[B, D] -> [B, 1, D], for per-sample modulation of token sequences.</summary>
    public Value PerToken(Value x) => G.Unsqueeze(x, 1);

    // ---- Precision ----------------------------------------------------------------------------------

    public Value Scalar(double value) => G.Scalar(value, DType);
    /// <summary>A stored fp32 parameter (norm weights) as the graph's precision; ORT folds the Cast at session creation.</summary>
    private Value InModelPrecision(Value fp32) => IsHalf ? G.Cast(fp32, DType) : fp32;
    public Value ToFloat32(Value x) => IsHalf ? G.Cast(x, DType.Float32) : x;
    public Value FromFloat32(Value x) => IsHalf ? G.Cast(x, DType) : x;
}
