using Grpc.Core;
using Sd3Mesh.Models;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Server.Tests;

public sealed class ModelLoadFailureTests
{
    [Fact]
    public async Task A_job_whose_submodule_cannot_load_fails_as_failed_precondition_naming_the_submodule()
    {
        string cached = ModelZoo.EnsureCached("tiny", DType.Float32, 0);
        string folder = Directory.CreateTempSubdirectory("sd3mesh-damaged-model-").FullName;
        try
        {
            foreach (var file in Directory.EnumerateFiles(cached, "*", SearchOption.AllDirectories))
            {
                string copy = Path.Combine(folder, Path.GetRelativePath(cached, file));
                Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
                File.Copy(file, copy);
            }
            var config = EmbeddedCluster.Config(new ModelSpec(folder, null), Onnx.Device.Cpu);
            await using var silo = await TestSilo.StartAsync(ClusterSilo.Create(config, "local"));
            // Damaged after the silo checked the folder at its start, before the VAE's grain first loads it.
            await File.WriteAllTextAsync(Path.Combine(folder, "vae_decoder", "model.onnx"), "not an ONNX model");

            var events = await silo.GenerateAsync(new GenerateRequest { Prompt = "a photo of a cat", Width = 64, Height = 64, Steps = 2, Seed = 1 });
            // The job ran up to the decode, whose grain could not load its session.
            Assert.Equal(["stage Denoise", "step 1/2", "step 2/2", "stage Decode"], events.Skip(3).SkipLast(1).Select(JobFlowTests.Describe));
            var failed = events[^1].Failed;
            Assert.Equal((int)StatusCode.FailedPrecondition, failed.Code);
            Assert.Matches(@"^vae \(tiny-fp32-seed0/vae@cpu:0 on silo local\) could not load its session: OnnxRuntimeException: .*Load model from .*/vae_decoder/model\.onnx failed",
                failed.Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
