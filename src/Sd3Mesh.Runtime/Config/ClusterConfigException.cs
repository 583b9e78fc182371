namespace Sd3Mesh.Runtime.Config;

/// <summary>A cluster config that cannot be used; <see cref="Errors"/> names each field and why.</summary>
public sealed class ClusterConfigException(string source, IReadOnlyList<string> errors)
    : Exception($"{source}: " + (errors.Count == 1 ? errors[0] : string.Join(Environment.NewLine, errors.Select(e => "  " + e).Prepend($"{errors.Count} problems:"))))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}
