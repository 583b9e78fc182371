using Sd3Mesh.Protos.V1;

namespace Sd3Mesh.Server.Cluster;

/// <summary>Where the grains (one per SD3 submodule) live and how they are doing. Filled by the grain runtime.</summary>
public interface IGrainDirectory
{
    IReadOnlyList<Grain> Grains(string siloId);
}

/// <summary>A silo without a grain runtime hosts no grains.</summary>
public sealed class NoGrains : IGrainDirectory
{
    public IReadOnlyList<Grain> Grains(string siloId) => [];
}
