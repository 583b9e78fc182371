namespace Sd3Mesh.Pipeline.Sampling;

/// <summary>
/// A denoising schedule: the timesteps given to the transformer and the sigmas (one more: the terminal
/// sigma) the Euler step moves between. <see cref="BeginIndex"/> is where image-to-image starts.
/// Steps are pure functions of (step index, latents, velocity), so a runtime can resume at any step.
/// </summary>
public sealed class FlowMatchSchedule
{
    public FlowMatchSchedule(float[] timesteps, float[] sigmas, int beginIndex)
    {
        if (sigmas.Length != timesteps.Length + 1) throw new ArgumentException("sigmas must be one longer than timesteps");
        Timesteps = timesteps;
        Sigmas = sigmas;
        BeginIndex = beginIndex;
    }

    /// <summary>All timesteps of the full schedule (float32, sigma * num_train_timesteps).</summary>
    public IReadOnlyList<float> Timesteps { get; }

    /// <summary>All sigmas of the full schedule, with the terminal one.</summary>
    public IReadOnlyList<float> Sigmas { get; }

    /// <summary>The first step run (0 for text-to-image).</summary>
    public int BeginIndex { get; }

    /// <summary>Steps actually run.</summary>
    public int StepCount => Timesteps.Count - BeginIndex;

    /// <summary>
    /// diffusers' StableDiffusion3Img2ImgPipeline.get_timesteps: keep the last min(N*strength, N) steps
    /// (t_start = int(max(N - N*strength, 0)), computed in float64 as Python does).
    /// </summary>
    public FlowMatchSchedule ForStrength(double strength) =>
        new((float[])Timesteps, (float[])Sigmas, StartIndex(Timesteps.Count, strength));

    /// <summary>The rest of this schedule once <paramref name="steps"/> of its steps have run (a job resumed from a checkpoint).</summary>
    public FlowMatchSchedule After(int steps)
    {
        if (steps < 0 || steps > StepCount) throw new ArgumentOutOfRangeException(nameof(steps), steps, $"0..{StepCount} steps can have run");
        return new((float[])Timesteps, (float[])Sigmas, BeginIndex + steps);
    }

    /// <summary>t_start of <see cref="ForStrength"/> for a schedule of <paramref name="steps"/> steps.</summary>
    public static int StartIndex(int steps, double strength)
    {
        double init = Math.Min(steps * strength, steps);
        return (int)Math.Max(steps - init, 0);
    }

    /// <summary>
    /// The Euler step of step index <paramref name="index"/>: prev = sample + (sigma[i+1] - sigma[i]) * velocity,
    /// in float32 with the product and the sum rounded separately (two tensor ops in torch). Writes into
    /// <paramref name="destination"/> (which may be <paramref name="sample"/>).
    /// </summary>
    public void Step(int index, ReadOnlySpan<float> velocity, ReadOnlySpan<float> sample, Span<float> destination)
    {
        if (velocity.Length != sample.Length || destination.Length != sample.Length)
            throw new ArgumentException("velocity, sample and destination must have one length");
        float dt = Sigmas[index + 1] - Sigmas[index];
        for (int i = 0; i < sample.Length; i++)
        {
            float scaled = dt * velocity[i];
            destination[i] = sample[i] + scaled;
        }
    }

    /// <summary>
    /// scheduler.scale_noise at the begin index (the image-to-image start): sigma*noise + (1-sigma)*sample,
    /// float32 operation by operation.
    /// </summary>
    public void ScaleNoise(ReadOnlySpan<float> sample, ReadOnlySpan<float> noise, Span<float> destination)
    {
        float sigma = Sigmas[BeginIndex];
        float keep = 1f - sigma;
        for (int i = 0; i < sample.Length; i++)
        {
            float a = sigma * noise[i];
            float b = keep * sample[i];
            destination[i] = a + b;
        }
    }
}
