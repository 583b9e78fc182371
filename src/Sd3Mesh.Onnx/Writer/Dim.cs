namespace Sd3Mesh.Onnx.Writer;

/// <summary>
/// One dimension of a declared input/output shape: a fixed size, or a symbolic name such as "batch"
/// (a dynamic dimension that ORT resolves at run time). Converts implicitly from long, int and string.
/// </summary>
public readonly record struct Dim
{
    public long? Value { get; }
    public string? Param { get; }

    private Dim(long? value, string? param) { Value = value; Param = param; }

    public static Dim Fixed(long value) =>
        value >= 0 ? new Dim(value, null) : throw new ArgumentOutOfRangeException(nameof(value), "a fixed dimension is >= 0");

    public static Dim Symbolic(string name) =>
        string.IsNullOrWhiteSpace(name) ? throw new ArgumentException("a symbolic dimension needs a name", nameof(name)) : new Dim(null, name);

    public static implicit operator Dim(long value) => Fixed(value);
    public static implicit operator Dim(int value) => Fixed(value);
    public static implicit operator Dim(string name) => Symbolic(name);

    public override string ToString() => Param ?? Value!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
