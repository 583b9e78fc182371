using System.Collections;

namespace Sd3Mesh.Tensors;

/// <summary>
/// Immutable row-major tensor shape. Dimensions are 64-bit, as in ONNX; -1 is never valid here
/// (symbolic dimensions belong to model metadata, not to tensors that hold data).
/// </summary>
public readonly struct TensorShape : IEquatable<TensorShape>, IReadOnlyList<long>
{
    private readonly long[]? _dims;
    private readonly long _elementCount;

    public TensorShape(params long[] dims) : this((ReadOnlySpan<long>)dims) { }

    public TensorShape(ReadOnlySpan<long> dims)
    {
        foreach (var d in dims)
            if (d < 0) throw new ArgumentException($"shape {Format(dims)} has a negative dimension", nameof(dims));
        _dims = dims.ToArray();
        _elementCount = Product(dims);
    }

    public static TensorShape Of(params int[] dims) => new(Array.ConvertAll(dims, d => (long)d));

    public ReadOnlySpan<long> Dims => _dims ?? [];
    public int Rank => _dims?.Length ?? 0;
    /// <summary>Number of elements; 1 for a scalar (rank 0, also the default value).</summary>
    public long ElementCount => _dims is null ? 1 : _elementCount;

    /// <summary>The rank-0 shape.</summary>
    public static TensorShape Scalar => default;
    public int Count => Rank;
    public long this[int axis] => Dims[axis < 0 ? Rank + axis : axis];

    public long[] ToArray() => Dims.ToArray();

    /// <summary>The same shape with dimension <paramref name="axis"/> replaced.</summary>
    public TensorShape With(int axis, long value)
    {
        var dims = ToArray();
        dims[axis < 0 ? Rank + axis : axis] = value;
        return new TensorShape(dims);
    }

    private static long Product(ReadOnlySpan<long> dims)
    {
        if (dims.Contains(0)) return 0; // no elements, however large the other dimensions
        long n = 1;
        foreach (var d in dims)
        {
            // Shapes come from files and the wire: an impossible one is bad input, not an arithmetic overflow.
            if (n > long.MaxValue / d)
                throw new ArgumentException($"shape {Format(dims)} has more elements than a tensor can count (2^63 - 1)", nameof(dims));
            n *= d;
        }
        return n;
    }

    public bool Equals(TensorShape other) => Dims.SequenceEqual(other.Dims);
    public override bool Equals(object? obj) => obj is TensorShape s && Equals(s);
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var d in Dims) h.Add(d);
        return h.ToHashCode();
    }
    public static bool operator ==(TensorShape a, TensorShape b) => a.Equals(b);
    public static bool operator !=(TensorShape a, TensorShape b) => !a.Equals(b);

    public override string ToString() => Format(Dims);
    public static string Format(ReadOnlySpan<long> dims) => "[" + string.Join(", ", dims.ToArray()) + "]";

    public IEnumerator<long> GetEnumerator() => ((IEnumerable<long>)(_dims ?? [])).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
