using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.IO;

namespace Sd3Mesh.Runtime.Jobs;

public static class JobOutputs
{
    /// <summary>One PNG (with the pipeline's metadata chunks) or one .npy of latents [C, height/8, width/8] per image, in seed order.</summary>
    public static JobOutput[] From(GenerationResult result, GenerationRequest request)
    {
        if (request.OutputType == OutputType.Image)
            return [.. result.Images.Select(i => new JobOutput(JobOutput.Png, i.ToPng(), request.Width, request.Height, i.Seed))];
        var shape = result.Latents.Shape;
        return [.. result.Images.Select(i =>
        {
            using var npy = new MemoryStream();
            NpyFile.Write(npy, result.Latents.Slice0(i.Index, 1).Reshape(shape[1], shape[2], shape[3]));
            return new JobOutput(JobOutput.Npy, npy.ToArray(), request.Width, request.Height, i.Seed);
        })];
    }
}
