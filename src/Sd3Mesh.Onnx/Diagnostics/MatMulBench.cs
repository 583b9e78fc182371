using System.Diagnostics;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Diagnostics;

/// <summary>How a MatMul benchmark run moves data.</summary>
public enum TransferMode
{
    /// <summary>Input and output stay in the device's memory (IoBinding; each output feeds the next run).</summary>
    DeviceResident,
    /// <summary>Input in device memory, output copied back to the CPU after every run (IoBinding to cpu).</summary>
    CopyBack,
    /// <summary>Plain Run: input uploaded from and output copied back to managed memory every run.</summary>
    HostRoundTrip,
}

/// <summary>One benchmark figure: milliseconds per run and the MatMul rate it implies.</summary>
public sealed record MatMulBenchResult(Device Device, DType DType, int Size, TransferMode Mode, int Iterations, double MillisecondsPerRun)
{
    /// <summary>2 n^3 floating-point operations per run, in TFLOP/s.</summary>
    public double TflopsPerSecond => 2.0 * Size * Size * (double)Size / (MillisecondsPerRun * 1e-3) / 1e12;
}

/// <summary>
/// Measures Y = X . W for [n, n] matrices (W an initializer, as model weights are) on a device, in the three
/// <see cref="TransferMode"/>s, so one run shows the device's MatMul rate and what copying outputs back
/// costs. Device-resident timing covers a chain of runs (each output is the next input) closed by one copy
/// of the last output to the CPU, so asynchronous devices are timed to completion; that one copy is
/// spread over the chain. Used by <c>sd3mesh bench ort</c>.
/// </summary>
public static class MatMulBench
{
    public static byte[] Model(int size, DType dtype)
    {
        // W ~ N(0, 1/n): a product by W keeps the values' scale, so chained runs stay finite in float16.
        var w = new float[(long)size * size];
        SeededRandom.FillNormalParallel(w, seed: 4096, stream: 1);
        float scale = 1 / MathF.Sqrt(size);
        for (int i = 0; i < w.Length; i++) w[i] *= scale;
        var g = new GraphBuilder($"matmul_{size}_{dtype.Name()}");
        var weight = Tensor.FromArray(w, size, size);
        var y = g.MatMul(g.Input("x", dtype, size, size), g.Initializer("w", weight.AsDType(dtype)));
        g.Output(y, "y", dtype, size, size);
        return g.Build().ToBytes();
    }

    public static Tensor Input(int size, DType dtype)
    {
        var x = new float[(long)size * size];
        SeededRandom.FillNormalParallel(x, seed: 4096, stream: 2);
        return Tensor.FromArray(x, size, size).AsDType(dtype);
    }

    /// <summary>Runs the three modes on one device and element type. <paramref name="onStep"/> reports each finished run.</summary>
    public static IReadOnlyList<MatMulBenchResult> Run(Device device, int size, DType dtype,
        int iterations, int warmup, Action? onStep = null, CancellationToken cancellationToken = default, bool tf32 = false)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "size must be >= 1");
        if (iterations < 1) throw new ArgumentOutOfRangeException(nameof(iterations), iterations, "iterations must be >= 1");
        if (warmup < 0) throw new ArgumentOutOfRangeException(nameof(warmup), warmup, "warmup must be >= 0");
        using var session = OnnxSession.Create(Model(size, dtype), new SessionSettings { Device = device, Tf32 = tf32 });
        var x = Input(size, dtype);
        return
        [
            new(device, dtype, size, TransferMode.DeviceResident, iterations,
                DeviceResident(session, x, iterations, warmup, onStep, cancellationToken)),
            new(device, dtype, size, TransferMode.CopyBack, iterations,
                CopyBack(session, x, iterations, warmup, onStep, cancellationToken)),
            new(device, dtype, size, TransferMode.HostRoundTrip, iterations,
                HostRoundTrip(session, x, iterations, warmup, onStep, cancellationToken)),
        ];
    }

    private static double DeviceResident(OnnxSession session, Tensor x, int iterations, int warmup, Action? onStep, CancellationToken ct)
    {
        using var binding = session.CreateBinding();
        binding.BindOutput("y", session.Device);
        binding.BindInput("x", x);
        session.Run(binding, ct); // first output: the chain's start, on the device
        Feed(binding, last: false);
        for (int i = 0; i < warmup; i++) { session.Run(binding, ct); Feed(binding, last: false); onStep?.Invoke(); }
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < iterations; i++) { session.Run(binding, ct); Feed(binding, last: i == iterations - 1); onStep?.Invoke(); }
        return watch.Elapsed.TotalMilliseconds / iterations;
    }

    /// <summary>Makes the output the next input; the last one is copied to the CPU, which waits for the device.</summary>
    private static void Feed(OnnxBinding binding, bool last)
    {
        using var y = binding.GetOutputs()["y"];
        if (last) _ = DeviceCopies.ToHost(y, binding.Session.Device);
        else binding.BindInput("x", y);
    }

    private static double CopyBack(OnnxSession session, Tensor x, int iterations, int warmup, Action? onStep, CancellationToken ct)
    {
        // The input is put in device memory once, then every run's output is bound to CPU memory.
        using var binding = session.CreateBinding();
        using (var onDevice = DeviceCopies.ToDevice(x, session.Device)) binding.BindInput("x", onDevice);
        var result = Tensor.Zeros(x.DType, x.Shape);
        using var cpuOutput = PinnedTensorValue.Wrap(result);
        binding.BindOutput("y", cpuOutput.Value);
        for (int i = 0; i < warmup; i++) { session.Run(binding, ct); onStep?.Invoke(); }
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < iterations; i++) { session.Run(binding, ct); onStep?.Invoke(); }
        return watch.Elapsed.TotalMilliseconds / iterations;
    }

    private static double HostRoundTrip(OnnxSession session, Tensor x, int iterations, int warmup, Action? onStep, CancellationToken ct)
    {
        var result = Tensor.Zeros(x.DType, x.Shape);
        using var input = PinnedTensorValue.Wrap(x);
        using var output = PinnedTensorValue.Wrap(result);
        for (int i = 0; i < warmup; i++) { session.RunInto(["x"], [input.Value], ["y"], [output.Value], ct); onStep?.Invoke(); }
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < iterations; i++) { session.RunInto(["x"], [input.Value], ["y"], [output.Value], ct); onStep?.Invoke(); }
        return watch.Elapsed.TotalMilliseconds / iterations;
    }
}
