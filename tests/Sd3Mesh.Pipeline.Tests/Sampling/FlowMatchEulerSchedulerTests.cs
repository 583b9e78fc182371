using Sd3Mesh.Pipeline.Sampling;

namespace Sd3Mesh.Pipeline.Tests.Sampling;

public class FlowMatchEulerSchedulerTests
{
    // Printed by diffusers itself (huggingface/diffusers PR #10269, "Add set_shift"):
    // FlowMatchEulerDiscreteScheduler() (shift 1.0), set_timesteps(20); then set_shift(7.0), set_timesteps(20).
    private static readonly double[] Shift1Timesteps =
        [1000.0000, 947.4211, 894.8421, 842.2632, 789.6843, 737.1052, 684.5263, 631.9474, 579.3684, 526.7895,
         474.2105, 421.6316, 369.0526, 316.4737, 263.8947, 211.3158, 158.7368, 106.1579, 53.5789, 1.0000];
    private static readonly double[] Shift1Sigmas =
        [1.0000, 0.9474, 0.8948, 0.8423, 0.7897, 0.7371, 0.6845, 0.6319, 0.5794, 0.5268, 0.4742, 0.4216, 0.3691,
         0.3165, 0.2639, 0.2113, 0.1587, 0.1062, 0.0536, 0.0010, 0.0000];
    private static readonly double[] Shift7Timesteps =
        [1000.0000, 992.1342, 983.4892, 973.9432, 963.3475, 951.5190, 938.2291, 923.1893, 906.0295, 886.2676,
         863.2631, 836.1465, 803.7072, 764.2072, 715.0599, 652.2395, 569.1180, 453.9579, 283.8139, 6.9583];
    private static readonly double[] Shift7Sigmas =
        [1.0000, 0.9921, 0.9835, 0.9739, 0.9633, 0.9515, 0.9382, 0.9232, 0.9060, 0.8863, 0.8633, 0.8361, 0.8037,
         0.7642, 0.7151, 0.6522, 0.5691, 0.4540, 0.2838, 0.0070, 0.0000];

    [Fact]
    public void Matches_diffusers_printed_schedules_to_the_printed_digits()
    {
        var scheduler = new FlowMatchEulerScheduler(new FlowMatchSchedulerConfig());
        var s1 = scheduler.SetTimesteps(20);
        // torch prints 4 decimals of the float32 values: rounding ours must give the same digits
        // (737.1052 rather than the exact 737.10526 shows the float32 rounding is reproduced).
        Assert.Equal(Shift1Timesteps, s1.Timesteps.Select(t => Math.Round((double)t, 4)));
        Assert.Equal(Shift1Sigmas, s1.Sigmas.Select(t => Math.Round((double)t, 4)));

        scheduler.SetShift(7.0);
        var s7 = scheduler.SetTimesteps(20);
        Assert.Equal(Shift7Timesteps, s7.Timesteps.Select(t => Math.Round((double)t, 4)));
        Assert.Equal(Shift7Sigmas, s7.Sigmas.Select(t => Math.Round((double)t, 4)));
    }

    /// <summary>diffusers' formulas in float64, written out independently.</summary>
    private static (double[] Timesteps, double[] Sigmas) Reference(int steps, double shift, int trainSteps = 1000)
    {
        double Shifted(double s) => shift * s / (1 + (shift - 1) * s);
        double sigmaMax = Shifted(1.0), sigmaMin = Shifted(1.0 / trainSteps);
        var sigmas = new double[steps + 1];
        var timesteps = new double[steps];
        for (int i = 0; i < steps; i++)
        {
            double t = steps == 1 ? sigmaMax * trainSteps : sigmaMax * trainSteps + i * (sigmaMin - sigmaMax) * trainSteps / (steps - 1);
            sigmas[i] = Shifted(t / trainSteps);
            timesteps[i] = sigmas[i] * trainSteps;
        }
        return (timesteps, sigmas);
    }

    [Theory]
    [InlineData(28)]
    [InlineData(4)]
    [InlineData(1)]
    [InlineData(50)]
    public void SD3_shift_3_schedule_matches_the_float64_formulas_within_float32_rounding(int steps)
    {
        var schedule = new FlowMatchEulerScheduler(FlowMatchSchedulerConfig.Sd3Medium).SetTimesteps(steps);
        var (t, s) = Reference(steps, 3.0);
        Assert.Equal(steps, schedule.Timesteps.Count);
        Assert.Equal(steps + 1, schedule.Sigmas.Count);
        for (int i = 0; i < steps; i++)
        {
            Assert.Equal(s[i], schedule.Sigmas[i], 1e-6); // float32: about 6e-8 relative
            Assert.Equal(t[i], schedule.Timesteps[i], 1e-4);
        }
        Assert.Equal(0f, schedule.Sigmas[steps]);
        Assert.Equal(1000f, schedule.Timesteps[0]);
        Assert.Equal(1f, schedule.Sigmas[0]);
    }

    [Fact]
    public void SD3_last_sigma_is_shifted_twice_as_in_diffusers()
    {
        // sigma_min of the training schedule is already shifted (0.0029940...); set_timesteps shifts it again.
        var schedule = new FlowMatchEulerScheduler(FlowMatchSchedulerConfig.Sd3Medium).SetTimesteps(28);
        double once = 3 * 0.001 / (1 + 2 * 0.001);
        double twice = 3 * once / (1 + 2 * once);
        Assert.Equal(twice, schedule.Sigmas[27], 1e-7);
        Assert.Equal(0.0089286, schedule.Sigmas[27], 1e-6); // 3 * 0.0029940 / (1 + 2 * 0.0029940)
    }

    [Fact]
    public void Custom_sigmas_are_shifted_in_float32()
    {
        var scheduler = new FlowMatchEulerScheduler(FlowMatchSchedulerConfig.Sd3Medium);
        var schedule = scheduler.SetTimesteps([1.0f, 0.75f, 0.5f, 0.25f]);
        float[] expected = [1f, FlowMatchEulerScheduler.ShiftFloat32(0.75f, 3), FlowMatchEulerScheduler.ShiftFloat32(0.5f, 3), FlowMatchEulerScheduler.ShiftFloat32(0.25f, 3), 0f];
        Assert.Equal(expected, schedule.Sigmas);
        Assert.Equal(0.75, schedule.Sigmas[2], 1e-7);   // 3*0.5/(1+2*0.5)
        Assert.Equal(0.5, schedule.Sigmas[3], 1e-7);    // 3*0.25/(1+2*0.25)
        Assert.Equal(750f, schedule.Timesteps[2]);
    }

    [Fact]
    public void Dynamic_shifting_uses_mu()
    {
        var config = new FlowMatchSchedulerConfig { UseDynamicShifting = true };
        var scheduler = new FlowMatchEulerScheduler(config);
        Assert.Throws<ArgumentException>(() => scheduler.SetTimesteps(4));
        double mu = scheduler.CalculateMu(4096);
        Assert.Equal(1.15, mu, 1e-12);
        var schedule = scheduler.SetTimesteps(4, mu);
        double t1 = (1000 + (1 - 1000) / 3.0) / 1000; // linspace(1000, 1, 4)[1] / 1000, unshifted at init
        double expected = Math.Exp(mu) / (Math.Exp(mu) + (1 / t1 - 1));
        Assert.Equal(expected, schedule.Sigmas[1], 1e-6);
    }

    [Fact]
    public void Euler_step_moves_from_sigma_to_next_sigma()
    {
        var schedule = new FlowMatchEulerScheduler(FlowMatchSchedulerConfig.Sd3Medium).SetTimesteps(4);
        float[] x = [1f, -2f, 0.5f], v = [0.25f, 1f, -3f], y = new float[3];
        schedule.Step(1, v, x, y);
        float dt = schedule.Sigmas[2] - schedule.Sigmas[1];
        for (int i = 0; i < 3; i++) Assert.Equal(x[i] + dt * v[i], y[i]);
        Assert.True(dt < 0);
        // The last step lands on sigma 0: x - sigma_last * v.
        schedule.Step(3, v, x, y);
        Assert.Equal((double)x[0] - schedule.Sigmas[3] * (double)v[0], y[0], 1e-6);
    }

    [Theory]
    // N*strength -> t_start = int(N - N*strength): 28*0.6 = 16.8 -> 11; 4*0.6 = 2.4 -> 1; strength 1 -> 0.
    [InlineData(28, 0.6, 11, 17)]
    [InlineData(4, 0.6, 1, 3)]
    [InlineData(4, 1.0, 0, 4)]
    [InlineData(10, 0.3, 7, 3)]
    [InlineData(50, 0.95, 2, 48)]
    public void Image_to_image_starts_where_diffusers_get_timesteps_starts(int steps, double strength, int begin, int run)
    {
        var schedule = new FlowMatchEulerScheduler(FlowMatchSchedulerConfig.Sd3Medium).SetTimesteps(steps).ForStrength(strength);
        Assert.Equal(begin, schedule.BeginIndex);
        Assert.Equal(run, schedule.StepCount);
    }

    [Fact]
    public void Scale_noise_mixes_at_the_start_sigma()
    {
        var schedule = new FlowMatchEulerScheduler(FlowMatchSchedulerConfig.Sd3Medium).SetTimesteps(4).ForStrength(0.6);
        float sigma = schedule.Sigmas[1];
        float[] sample = [2f, -1f], noise = [0.5f, 3f], mixed = new float[2];
        schedule.ScaleNoise(sample, noise, mixed);
        Assert.Equal(sigma * 0.5 + (1 - sigma) * 2.0, mixed[0], 1e-6);
        Assert.Equal(sigma * 3.0 + (1 - sigma) * -1.0, mixed[1], 1e-6);
    }

    [Fact]
    public void Reads_scheduler_config_json()
    {
        using var tmp = new Support.TempDirectory();
        File.WriteAllText(tmp.File("scheduler_config.json"),
            """{"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.29.0.dev0", "num_train_timesteps": 1000, "shift": 3.0}""");
        var config = FlowMatchSchedulerConfig.Load(tmp.File("scheduler_config.json"));
        Assert.Equal(3.0, config.Shift);
        Assert.Equal(1000, config.NumTrainTimesteps);
        Assert.False(config.UseDynamicShifting);

        File.WriteAllText(tmp.File("bad.json"), """{"_class_name": "EulerDiscreteScheduler"}""");
        Assert.Contains("FlowMatchEulerDiscreteScheduler", Assert.Throws<InvalidDataException>(() => FlowMatchSchedulerConfig.Load(tmp.File("bad.json"))).Message);
    }
}
