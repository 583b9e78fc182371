using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline;

/// <summary>
/// Where a job's denoising stood: the latents after <see cref="Step"/> of its denoising steps had run (float32
/// [count, C, H/8, W/8], the transformer's normalized space). A step is a pure function of its index and the latents,
/// so a job resumed from its checkpoint (<see cref="GenerationRequest.Resume"/>) ends with the same latents, and the
/// same images, as a run that never stopped.
/// </summary>
public sealed record DenoisingCheckpoint(int Step, Tensor Latents);
