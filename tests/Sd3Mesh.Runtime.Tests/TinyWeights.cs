using Sd3Mesh.Models;
using Sd3Mesh.Models.Repository;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Hosting;

namespace Sd3Mesh.Runtime.Tests;

/// <summary>The tiny model's weights per placed grain, as the placement plan counts them (bytes of its ONNX files).</summary>
public static class TinyWeights
{
    public static readonly string Folder = RuntimeServices.ResolveModel(new ModelSpec(null, "tiny"));
    private static readonly ModelRepository Repository = Sd3ModelFolder.Open(Folder).Repository;

    public static long Of(PlacedSubmodule s) => s.Models().Where(Repository.Has).Sum(m => Repository[m].ModelBytes);

    public static readonly PlacedSubmodule[] Encoders = [PlacedSubmodule.TextEncoder, PlacedSubmodule.TextEncoder2, PlacedSubmodule.TextEncoder3];
}
