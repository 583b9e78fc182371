namespace Sd3Mesh.Pipeline.Guidance;

/// <summary>How the two guidance passes reach the transformer.</summary>
public enum CfgMode
{
    /// <summary>One transformer call of batch 2B: negative rows first, then positive (diffusers).</summary>
    Batched,
    /// <summary>Two calls of batch B (negative, then positive): lets a runtime run them on two devices.</summary>
    Split,
}

/// <summary>Classifier-free guidance: uncond + scale * (cond - uncond), in float32 operation by operation as torch.</summary>
public static class ClassifierFreeGuidance
{
    /// <summary>diffusers runs guidance only when guidance_scale &gt; 1; otherwise a single conditional pass.</summary>
    public static bool IsEnabled(double guidanceScale) => guidanceScale > 1.0;

    public static void Combine(ReadOnlySpan<float> uncond, ReadOnlySpan<float> cond, double guidanceScale, Span<float> destination)
    {
        if (uncond.Length != cond.Length || destination.Length != cond.Length)
            throw new ArgumentException("uncond, cond and destination must have one length");
        float scale = (float)guidanceScale;
        for (int i = 0; i < cond.Length; i++)
        {
            float difference = cond[i] - uncond[i];
            float scaled = scale * difference;
            destination[i] = uncond[i] + scaled;
        }
    }
}
