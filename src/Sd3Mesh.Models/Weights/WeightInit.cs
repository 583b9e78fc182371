namespace Sd3Mesh.Models.Weights;

/// <summary>
/// How a seeded-random weight is initialized (ignored when weights come from a checkpoint, except
/// <see cref="Computed"/> tables, which a checkpoint may omit).
/// </summary>
public abstract record WeightInit
{
    public static WeightInit Normal(double std) => new NormalInit(std);
    /// <summary>Uniform in [-bound, bound).</summary>
    public static WeightInit Uniform(double bound) => new UniformInit(bound);
    public static WeightInit Constant(double value) => new ConstantInit(value);
    public static readonly WeightInit Zeros = new ConstantInit(0);
    public static readonly WeightInit Ones = new ConstantInit(1);
    /// <summary>A deterministic table (e.g. the sin-cos position embedding), not a learned weight.</summary>
    public static WeightInit Computed(Func<float[]> values) => new ComputedInit(values);
}

public sealed record NormalInit(double Std) : WeightInit;
public sealed record UniformInit(double Bound) : WeightInit;
public sealed record ConstantInit(double Value) : WeightInit;
public sealed record ComputedInit(Func<float[]> Values) : WeightInit;

/// <summary>A weight a graph asks for: its state-dict name, its PyTorch shape, and its random initialization.</summary>
public sealed record WeightRequest(string Name, Sd3Mesh.Tensors.TensorShape Shape, WeightInit Init);
