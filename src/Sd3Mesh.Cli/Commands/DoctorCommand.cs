using System.CommandLine;
using System.Globalization;
using Sd3Mesh.Onnx;
using Sd3Mesh.Onnx.Diagnostics;
using Sd3Mesh.Tensors;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh doctor [--check DEVICE]... [--tf32]`: the ONNX Runtime this process loads (version, library, providers,
/// the CUDA provider), the devices ONNX Runtime and the NVIDIA driver see (GPU name, memory, compute capability),
/// which device strings work here and why not, and, per --check, numeric self-checks on a device, saying which math
/// ran (exit code 1 if any fails; 2 for a bad device string).
/// </summary>
public static class DoctorCommand
{
    public static Command Create()
    {
        var check = new Option<string[]>("--check")
        {
            Description = "Run numeric self-checks (fp32 and fp16 MatMul+Add, Softmax, LayerNormalization, Conv vs float64) " +
                          "on DEVICE (cpu, cpu:N, cuda:N); repeatable",
            HelpName = "DEVICE",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var tf32 = new Option<bool>("--tf32") { Description = "Allow TF32 for float32 MatMul/Conv on CUDA in the self-checks (checked with TF32's tolerance)" };
        var command = new Command("doctor", "Show ONNX Runtime, its providers and the GPUs it sees; optionally self-check devices");
        command.Options.Add(check);
        command.Options.Add(tf32);
        command.SetAction(parse => Run(AnsiConsole.Console, parse.GetValue(check) ?? [], parse.GetValue(tf32)));
        return command;
    }

    /// <summary>Prints the report to <paramref name="console"/>; returns the exit code.</summary>
    public static int Run(IAnsiConsole console, IReadOnlyList<string> checks, bool tf32 = false)
    {
        var devices = new List<Device>();
        foreach (var text in checks)
        {
            if (!Device.TryParse(text, out var device))
            {
                console.MarkupLine($"[red]--check: unknown device '{Markup.Escape(text)}': expected {Markup.Escape(Device.AcceptedForms)}[/]");
                return ExitCodes.Usage;
            }
            devices.Add(device);
        }

        var (gpus, driverVersion, driverProblem) = CudaDriver.Query();
        console.Write(RuntimeTable());
        console.Write(EpDeviceTable());
        console.Write(GpuTable(gpus, driverVersion, driverProblem));
        console.Write(DeviceStringTable(gpus, driverProblem));

        if (devices.Count == 0) return 0;
        var results = RunChecks(console, devices, tf32);
        console.Write(ResultTable(results, tf32));
        foreach (var (device, error) in results.Where(r => r.Error is not null).Select(r => (r.Device, r.Error!)).Distinct())
            console.MarkupLine($"[red]{Markup.Escape(error.StartsWith(device.ToString(), StringComparison.Ordinal) ? error : $"{device}: {error}")}[/]");
        int passed = results.Count(r => r.Passed);
        console.MarkupLine(passed == results.Count
            ? $"[green]{passed}/{results.Count} checks passed[/]"
            : $"[red]{results.Count - passed} of {results.Count} checks failed[/]");
        return passed == results.Count ? 0 : 1;
    }

    private static Table RuntimeTable()
    {
        var table = new Table().Title("ONNX Runtime").AddColumn("").AddColumn("");
        table.HideHeaders();
        table.AddRow("Version", Markup.Escape($"{OrtRuntime.Version} (Microsoft.ML.OnnxRuntime.Managed + .Gpu.Linux natives)"));
        table.AddRow("Library", Markup.Escape(OrtRuntime.LibraryPath ?? "(not loaded)"));
        table.AddRow("Providers", Markup.Escape(string.Join(", ", OrtRuntime.Providers)));
        string provider = Path.Combine(OrtRuntime.LibraryDirectory, CudaSupport.ProviderLibrary);
        table.AddRow("CUDA provider", Markup.Escape(File.Exists(provider)
            ? $"{provider} ({new FileInfo(provider).Length / 1048576} MiB)"
            : $"not in this build ({CudaSupport.ProviderLibrary} is not in {OrtRuntime.LibraryDirectory})"));
        return table;
    }

    private static Table EpDeviceTable()
    {
        var table = new Table().Title("Execution-provider devices (OrtEnv.GetEpDevices)")
            .AddColumns("EP", "EP vendor", "Type", "Vendor", "Vendor id", "Device id", "Metadata");
        var devices = OrtRuntime.Env.GetEpDevices();
        foreach (var d in devices)
        {
            var hw = d.HardwareDevice;
            table.AddRow(
                Markup.Escape(d.EpName), Markup.Escape(d.EpVendor), hw.Type.ToString(), Markup.Escape(hw.Vendor),
                $"0x{hw.VendorId:x4}", $"0x{hw.DeviceId:x4}",
                Markup.Escape(string.Join(", ", hw.Metadata.Entries.Select(kv => $"{kv.Key}={kv.Value}"))));
        }
        if (devices.Count == 0) table.AddRow("(none)", "", "", "", "", "", "");
        return table;
    }

    private static Table GpuTable(IReadOnlyList<CudaDeviceInfo> gpus, int driverVersion, string? problem)
    {
        var table = new Table().Title(Markup.Escape($"CUDA devices (NVIDIA driver, CUDA {CudaDriver.VersionText(driverVersion)})"))
            .AddColumns("Device", "Name", "Memory", "Compute capability");
        foreach (var g in gpus)
            table.AddRow(g.Device.ToString(), Markup.Escape(g.Name), $"{g.TotalMemoryBytes / (1024.0 * 1024 * 1024):F1} GiB", $"{g.ComputeMajor}.{g.ComputeMinor}");
        if (gpus.Count == 0) table.AddRow("(none)", Markup.Escape(problem ?? "the driver sees no CUDA device"), "", "");
        return table;
    }

    private static Table DeviceStringTable(IReadOnlyList<CudaDeviceInfo> gpus, string? driverProblem)
    {
        var table = new Table().Title("Sd3Mesh device strings").AddColumns("Device", "Status here");
        table.AddRow("cpu, cpu:N", "ready: CPU execution provider (cpu:N are logical devices on it, one queue each)");
        string cuda = CudaSupport.Problem is { } problem ? $"[red]unavailable[/]: {Markup.Escape(problem)}"
            : driverProblem is not null ? $"[red]unavailable[/]: {Markup.Escape(driverProblem)}"
            : gpus.Count == 0 ? "[red]unavailable[/]: the NVIDIA driver sees no CUDA device"
            : Markup.Escape($"ready: {string.Join(", ", gpus.Select(g => g.Device))} (try: sd3mesh doctor --check cuda:0)");
        table.AddRow("cuda:N", cuda);
        return table;
    }

    private static List<SelfCheckResult> RunChecks(IAnsiConsole console, List<Device> devices, bool tf32)
    {
        var results = new List<SelfCheckResult>();
        var cases = SelfChecks.All();
        ConsoleProgress.Run(console, devices.Select(d => ($"self-checks on {d}", cases.Count)).ToList(), (i, step) =>
        {
            foreach (var check in cases)
            {
                results.Add(SelfChecks.Run(devices[i], check, tf32));
                step();
            }
        });
        return results;
    }

    private static Table ResultTable(List<SelfCheckResult> results, bool tf32)
    {
        var table = new Table().Title(tf32 ? "Self-checks (relative L2 error vs a float64 reference; TF32 allowed on CUDA)" : "Self-checks (relative L2 error vs a float64 reference)")
            .AddColumns("Device", "Check", "Type", "Math", "Rel. L2", "Max abs", "Tol.", "Result", "ms");
        foreach (var r in results)
            table.AddRow(
                r.Device.ToString(), Markup.Escape(r.Name), r.DType.Name(), r.Math,
                Figure(r.RelativeL2Error), Figure(r.MaxAbsError), Figure(r.Tolerance),
                r.Passed ? "[green]pass[/]" : "[red]FAIL[/]",
                r.Elapsed.TotalMilliseconds.ToString("F0", CultureInfo.InvariantCulture));
        return table;
    }

    private static string Figure(double value) => double.IsNaN(value) ? "-" : value.ToString("0.##e+00", CultureInfo.InvariantCulture);
}
