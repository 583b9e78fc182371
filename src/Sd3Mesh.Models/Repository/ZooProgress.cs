namespace Sd3Mesh.Models.Repository;

/// <summary>Progress of writing a repository: bytes of weights written for a submodule, of its total.</summary>
public sealed record ZooProgress(Submodule Submodule, long BytesWritten, long TotalBytes);
