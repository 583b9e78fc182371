using System.CommandLine;
using System.Globalization;
using Sd3Mesh.Onnx;
using Sd3Mesh.Onnx.Diagnostics;
using Sd3Mesh.Tensors;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh bench ort [--device cuda:0] [--size 4096] [--tf32]`: the MatMul rate of a device against the CPU in
/// TFLOP/s, and what it costs to copy outputs back every call instead of keeping them on the device
/// (IoBinding), for float32 and float16. All figures come from one process, so ratios compare like with like.
/// Exit code 2 for a bad option or a device that cannot be used (the message says why), 1 if a run fails.
/// </summary>
public static class BenchOrtCommand
{
    public static Command Create()
    {
        var device = new Option<string>("--device") { Description = "Device to measure (cpu, cpu:N, cuda:N)", DefaultValueFactory = _ => "cuda:0" };
        var size = new Option<int>("--size") { Description = "Matrix size n of the [n, n] x [n, n] MatMul", DefaultValueFactory = _ => 4096 };
        var iterations = new Option<int>("--iterations") { Description = "Timed runs per figure on the device", DefaultValueFactory = _ => 20 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed runs before each figure", DefaultValueFactory = _ => 3 };
        var baseline = new Option<string>("--baseline")
        {
            Description = "Device to compare with ('none' to skip)",
            DefaultValueFactory = _ => "cpu",
        };
        var baselineIterations = new Option<int>("--baseline-iterations") { Description = "Timed runs per figure on the baseline", DefaultValueFactory = _ => 3 };
        var dtypes = new Option<string[]>("--dtype")
        {
            Description = "Element types to measure (fp32, fp16); repeatable",
            DefaultValueFactory = _ => ["fp32", "fp16"],
            Arity = ArgumentArity.OneOrMore,
        };
        var tf32 = new Option<bool>("--tf32") { Description = "Allow TF32 for float32 MatMul on CUDA (default: exact float32)" };
        var command = new Command("ort", "MatMul TFLOP/s on a device vs the CPU, and the cost of copying outputs back (IoBinding)");
        command.Options.Add(device);
        command.Options.Add(size);
        command.Options.Add(iterations);
        command.Options.Add(warmup);
        command.Options.Add(baseline);
        command.Options.Add(baselineIterations);
        command.Options.Add(dtypes);
        command.Options.Add(tf32);
        command.SetAction((parse, ct) => Task.FromResult(Run(AnsiConsole.Console, new Settings(
            parse.GetValue(device)!, parse.GetValue(size), parse.GetValue(iterations), parse.GetValue(warmup),
            parse.GetValue(baseline)!, parse.GetValue(baselineIterations), parse.GetValue(dtypes) ?? [], parse.GetValue(tf32)), ct)));
        return command;
    }

    public sealed record Settings(string Device, int Size, int Iterations, int Warmup, string Baseline, int BaselineIterations, string[] DTypes,
        bool Tf32 = false);

    public static int Run(IAnsiConsole console, Settings settings, CancellationToken cancellationToken = default)
    {
        string? error = Validate(settings, out var device, out var baseline, out var dtypes);
        if (error is not null)
        {
            console.MarkupLine($"[red]{Markup.Escape(error)}[/]");
            return ExitCodes.Usage;
        }
        try
        {
            CudaSupport.EnsureUsable(device);
        }
        catch (DeviceUnavailableException e)
        {
            console.MarkupLine($"[red]{Markup.Escape(e.Message)}[/]");
            return ExitCodes.Usage;
        }

        var plan = new List<(Device Device, DType DType, int Iterations)>();
        foreach (var dtype in dtypes)
        {
            plan.Add((device, dtype, settings.Iterations));
            if (baseline is { } b) plan.Add((b, dtype, settings.BaselineIterations));
        }

        console.MarkupLine(Markup.Escape($"ONNX Runtime {OrtRuntime.Version} ({OrtRuntime.LibraryPath}); float32 math on CUDA: " +
                                         $"{(settings.Tf32 ? "TF32 allowed" : "exact float32")}; " +
                                         $"kept on device = IoBinding, each output feeds the next run; copied back = output bound to CPU memory; " +
                                         $"host round trip = plain Run from and to managed memory."));
        var results = new List<MatMulBenchResult>();
        var failures = new List<string>();
        var tasks = plan.Select(p => ($"{p.Device} {p.DType.Name()} n={settings.Size}", 3 * (p.Iterations + settings.Warmup))).ToList();
        ConsoleProgress.Run(console, tasks, (i, step) =>
        {
            var (d, dtype, n) = plan[i];
            try
            {
                results.AddRange(MatMulBench.Run(d, settings.Size, dtype, n, settings.Warmup, step, cancellationToken, settings.Tf32));
            }
            catch (Exception e) when (e is Microsoft.ML.OnnxRuntime.OnnxRuntimeException or DeviceUnavailableException)
            {
                failures.Add($"{d} {dtype.Name()}: {e.Message}");
            }
        });

        console.Write(ResultTable(results, baseline, settings.Size));
        foreach (var line in Summary(results, device)) console.MarkupLine(Markup.Escape(line));
        foreach (var f in failures) console.MarkupLine($"[red]{Markup.Escape(f)}[/]");
        return failures.Count == 0 ? 0 : 1;
    }

    private static string? Validate(Settings s, out Device device, out Device? baseline, out List<DType> dtypes)
    {
        baseline = null;
        dtypes = [];
        if (!Device.TryParse(s.Device, out device)) return $"--device: unknown device '{s.Device}': expected {Device.AcceptedForms}";
        if (!s.Baseline.Equals("none", StringComparison.OrdinalIgnoreCase))
        {
            if (!Device.TryParse(s.Baseline, out var b)) return $"--baseline: unknown device '{s.Baseline}': expected {Device.AcceptedForms} or none";
            if (b != device) baseline = b;
        }
        if (s.Size is < 1 or > 16384) return $"--size must be between 1 and 16384, got {s.Size}";
        if (s.Iterations < 1) return $"--iterations must be >= 1, got {s.Iterations}";
        if (s.BaselineIterations < 1) return $"--baseline-iterations must be >= 1, got {s.BaselineIterations}";
        if (s.Warmup < 0) return $"--warmup must be >= 0, got {s.Warmup}";
        foreach (var name in s.DTypes)
        {
            DType dtype;
            try { dtype = DTypes.Parse(name); }
            catch (FormatException e) { return $"--dtype: {e.Message}"; }
            if (dtype is not (DType.Float32 or DType.Float16)) return $"--dtype: {name} is not measured; use fp32 or fp16";
            if (!dtypes.Contains(dtype)) dtypes.Add(dtype);
        }
        return dtypes.Count == 0 ? "--dtype: give at least one of fp32, fp16" : null;
    }

    private static Table ResultTable(List<MatMulBenchResult> results, Device? baseline, int size)
    {
        var table = new Table().Title(Markup.Escape($"MatMul [{size}, {size}] x [{size}, {size}] (W an initializer)"))
            .AddColumns("Device", "Type", "Output", "Runs", "ms / run", "TFLOP/s", "vs baseline");
        foreach (var r in results)
        {
            var reference = baseline is { } b ? results.FirstOrDefault(x => x.Device == b && x.DType == r.DType && x.Mode == r.Mode) : null;
            string ratio = reference is null || r.Device == reference.Device ? "" : $"{reference.MillisecondsPerRun / r.MillisecondsPerRun:F1}x";
            table.AddRow(r.Device.ToString(), r.DType.Name(), Describe(r.Mode), r.Iterations.ToString(CultureInfo.InvariantCulture),
                r.MillisecondsPerRun.ToString("F2", CultureInfo.InvariantCulture), r.TflopsPerSecond.ToString("F2", CultureInfo.InvariantCulture), ratio);
        }
        return table;
    }

    private static IEnumerable<string> Summary(List<MatMulBenchResult> results, Device device)
    {
        foreach (var group in results.Where(r => r.Device == device).GroupBy(r => r.DType))
        {
            var resident = group.FirstOrDefault(r => r.Mode == TransferMode.DeviceResident);
            var copyBack = group.FirstOrDefault(r => r.Mode == TransferMode.CopyBack);
            var roundTrip = group.FirstOrDefault(r => r.Mode == TransferMode.HostRoundTrip);
            if (resident is null || copyBack is null || roundTrip is null) continue;
            yield return $"{device} {group.Key.Name()}: copying the output back costs {copyBack.MillisecondsPerRun - resident.MillisecondsPerRun:F2} ms " +
                         $"per call ({copyBack.MillisecondsPerRun / resident.MillisecondsPerRun:F2}x the device-resident time); " +
                         $"a full host round trip costs {roundTrip.MillisecondsPerRun / resident.MillisecondsPerRun:F2}x.";
        }
    }

    private static string Describe(TransferMode mode) => mode switch
    {
        TransferMode.DeviceResident => "kept on device",
        TransferMode.CopyBack => "copied back",
        _ => "host round trip",
    };
}
