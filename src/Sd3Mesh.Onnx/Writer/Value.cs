namespace Sd3Mesh.Onnx.Writer;

/// <summary>
/// A named value in a graph under construction (an input, an initializer or a node output).
/// <see cref="None"/> stands for an omitted optional node input.
/// </summary>
public readonly record struct Value(string Name)
{
    public static readonly Value None = new("");
    public bool IsNone => Name.Length == 0;
    public override string ToString() => Name;
}
