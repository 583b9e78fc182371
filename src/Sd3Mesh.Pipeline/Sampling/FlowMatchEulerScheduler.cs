namespace Sd3Mesh.Pipeline.Sampling;

/// <summary>
/// diffusers' FlowMatchEulerDiscreteScheduler, reproducing its arithmetic and dtypes:
/// <list type="bullet">
/// <item>construction: training sigmas t/N for t = N..1 in float32, shifted in float32
/// (shift*s / (1 + (shift-1)*s)); sigma_max and sigma_min are the first and last of them;</item>
/// <item><see cref="SetTimesteps(int, double?)"/>: timesteps = linspace(sigma_max*N, sigma_min*N, steps) in
/// float64 (numpy), sigmas = timesteps/N, shifted again in float64 (diffusers shifts the already-shifted
/// sigma_min a second time; kept for fidelity), rounded to float32; timesteps = sigmas*N in float32;
/// a terminal sigma 0 is appended;</item>
/// <item>custom sigmas are cast to float32 first and shifted in float32, as numpy does with a float32 array;</item>
/// <item>dynamic shifting (mu) and shift_terminal follow the same formulas; Karras/exponential/beta
/// sigmas are not supported.</item>
/// </list>
/// </summary>
public sealed class FlowMatchEulerScheduler
{
    private readonly FlowMatchSchedulerConfig _config;

    public FlowMatchEulerScheduler(FlowMatchSchedulerConfig config)
    {
        if (config.NumTrainTimesteps < 1) throw new ArgumentOutOfRangeException(nameof(config), "num_train_timesteps must be at least 1");
        _config = config;
        Shift = config.Shift;
        int n = config.NumTrainTimesteps;
        // np.linspace(1, N, N, dtype=float32)[::-1] / N, then the static shift, in float32.
        float first = (float)n / n, last = 1f / n;
        if (!config.UseDynamicShifting)
        {
            first = ShiftFloat32(first, config.Shift);
            last = ShiftFloat32(last, config.Shift);
        }
        SigmaMax = first;
        SigmaMin = last;
    }

    public FlowMatchSchedulerConfig Config => _config;

    /// <summary>The shift used by the next SetTimesteps (diffusers' set_shift changes it; sigma_min/max stay).</summary>
    public double Shift { get; private set; }

    public double SigmaMax { get; }
    public double SigmaMin { get; }

    public void SetShift(double shift) => Shift = shift;

    /// <summary>diffusers' calculate_shift: mu for dynamic shifting from the image token count.</summary>
    public double CalculateMu(int imageSeqLen)
    {
        double m = (_config.MaxShift - _config.BaseShift) / (_config.MaxImageSeqLen - _config.BaseImageSeqLen);
        double b = _config.BaseShift - m * _config.BaseImageSeqLen;
        return imageSeqLen * m + b;
    }

    /// <summary>The schedule for <paramref name="steps"/> steps (mu only with use_dynamic_shifting).</summary>
    public FlowMatchSchedule SetTimesteps(int steps, double? mu = null)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "num_inference_steps must be at least 1");
        int n = _config.NumTrainTimesteps;
        var sigmas = new double[steps];
        double start = SigmaMax * n, stop = SigmaMin * n;
        if (steps == 1) sigmas[0] = start;
        else
        {
            double step = (stop - start) / (steps - 1);
            for (int i = 0; i < steps; i++) sigmas[i] = i * step + start;
            sigmas[^1] = stop;
        }
        for (int i = 0; i < steps; i++) sigmas[i] /= n;
        return Finish(ApplyShift(sigmas, mu));
    }

    /// <summary>The schedule for caller-given sigmas (diffusers' set_timesteps(sigmas=...)).</summary>
    public FlowMatchSchedule SetTimesteps(IReadOnlyList<float> customSigmas, double? mu = null)
    {
        if (customSigmas.Count < 1) throw new ArgumentException("sigmas must not be empty", nameof(customSigmas));
        float[] s = customSigmas.ToArray();
        if (_config.UseDynamicShifting)
        {
            double m = RequireMu(mu);
            for (int i = 0; i < s.Length; i++) s[i] = (float)TimeShift(m, s[i]);
        }
        else
        {
            for (int i = 0; i < s.Length; i++) s[i] = ShiftFloat32(s[i], Shift);
        }
        var d = Array.ConvertAll(s, v => (double)v);
        if (_config.ShiftTerminal is { } terminal) StretchToTerminal(d, terminal);
        return Finish(d);
    }

    private double[] ApplyShift(double[] sigmas, double? mu)
    {
        if (_config.UseDynamicShifting)
        {
            double m = RequireMu(mu);
            for (int i = 0; i < sigmas.Length; i++) sigmas[i] = TimeShift(m, sigmas[i]);
        }
        else
        {
            for (int i = 0; i < sigmas.Length; i++) sigmas[i] = Shift * sigmas[i] / (1 + (Shift - 1) * sigmas[i]);
        }
        if (_config.ShiftTerminal is { } terminal) StretchToTerminal(sigmas, terminal);
        return sigmas;
    }

    private double RequireMu(double? mu) =>
        mu ?? throw new ArgumentException("use_dynamic_shifting needs mu (see CalculateMu)", nameof(mu));

    private static double TimeShift(double mu, double t) => Math.Exp(mu) / (Math.Exp(mu) + (1 / t - 1));

    private static void StretchToTerminal(double[] t, double terminal)
    {
        double scale = (1 - t[^1]) / (1 - terminal);
        for (int i = 0; i < t.Length; i++) t[i] = 1 - (1 - t[i]) / scale;
    }

    private FlowMatchSchedule Finish(double[] sigmas64)
    {
        int n = sigmas64.Length;
        var sigmas = new float[n + 1];
        var timesteps = new float[n];
        for (int i = 0; i < n; i++) sigmas[i] = (float)sigmas64[i];
        if (_config.InvertSigmas)
        {
            for (int i = 0; i < n; i++) sigmas[i] = 1f - sigmas[i];
            sigmas[n] = 1f;
        }
        for (int i = 0; i < n; i++) timesteps[i] = sigmas[i] * _config.NumTrainTimesteps;
        return new FlowMatchSchedule(timesteps, sigmas, beginIndex: 0);
    }

    /// <summary>
    /// shift*s / (1 + (shift-1)*s) on a float32 value as torch (and numpy with a float32 array) computes
    /// it: the Python scalars shift and shift-1 are rounded to float32, every operation too.
    /// </summary>
    public static float ShiftFloat32(float s, double shift)
    {
        float numerator = (float)shift * s;
        float denominator = 1f + (float)(shift - 1) * s;
        return numerator / denominator;
    }
}
