using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Tests.Parity;

/// <summary>Stage decorators that keep what each call got and gave, for stage-by-stage comparison.</summary>
public sealed class RecordingClip(IClipTextEncoder inner) : IClipTextEncoder
{
    public List<(long[] Ids, ClipTextEncoding Output)> Calls { get; } = [];

    public async Task<ClipTextEncoding> EncodeAsync(Tensor inputIds, int hiddenStateFromEnd, CancellationToken cancellationToken = default)
    {
        var output = await inner.EncodeAsync(inputIds, hiddenStateFromEnd, cancellationToken);
        lock (Calls) Calls.Add((inputIds.ToArray<long>(), output));
        return output;
    }
}

public sealed class RecordingT5(IT5TextEncoder inner) : IT5TextEncoder
{
    public List<(long[] Ids, Tensor Output)> Calls { get; } = [];

    public async Task<Tensor> EncodeAsync(Tensor inputIds, CancellationToken cancellationToken = default)
    {
        var output = await inner.EncodeAsync(inputIds, cancellationToken);
        lock (Calls) Calls.Add((inputIds.ToArray<long>(), output));
        return output;
    }
}

/// <summary>Records the transformer's forward passes (the velocity model under the host denoising loop).</summary>
public sealed class RecordingVelocityModel(IVelocityModel inner) : IVelocityModel
{
    public List<(float[] Latents, float[] Context, float[] Pooled, float[] Timestep, long Batch)> Calls { get; } = [];

    public async Task<Tensor> PredictAsync(Tensor hiddenStates, Tensor encoderHiddenStates, Tensor pooledProjections, Tensor timestep,
        CancellationToken cancellationToken = default)
    {
        // Copied before the call: the loop may reuse its buffers.
        var call = (hiddenStates.ToFloatArray(), encoderHiddenStates.ToFloatArray(), pooledProjections.ToFloatArray(), timestep.ToFloatArray(), hiddenStates.Shape[0]);
        var output = await inner.PredictAsync(hiddenStates, encoderHiddenStates, pooledProjections, timestep, cancellationToken);
        lock (Calls) Calls.Add(call);
        return output;
    }
}
