using System.CommandLine;
using System.Globalization;
using Sd3Mesh.Onnx;
using Sd3Mesh.Onnx.Diagnostics;
using Sd3Mesh.Tensors;
using Spectre.Console;

namespace Sd3Mesh.Cli.Commands;

/// <summary>
/// `sd3mesh doctor [--check DEVICE]...`: what ONNX Runtime this process loads (path, version, API,
/// build, providers), the devices its execution providers offer, which Sd3Mesh device strings can work
/// here, and, per --check, numeric self-checks on a device (exit code 1 if any fails).
/// </summary>
public static class DoctorCommand
{
    public static Command Create()
    {
        var check = new Option<string[]>("--check")
        {
            Description = "Run numeric self-checks (fp32 and fp16 MatMul+Add, Softmax, LayerNormalization, Conv vs float64) " +
                          "on DEVICE (cpu, cpu:N, webgpu:N, cuda:N); repeatable",
            HelpName = "DEVICE",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var command = new Command("doctor", "Show the ONNX Runtime library, providers and devices; optionally self-check devices");
        command.Options.Add(check);
        command.SetAction(parse => Run(AnsiConsole.Console, parse.GetValue(check) ?? []));
        return command;
    }

    /// <summary>Prints the report to <paramref name="console"/>; returns the exit code.</summary>
    public static int Run(IAnsiConsole console, IReadOnlyList<string> checks)
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

        OrtLibrary library;
        try
        {
            library = OrtLibrary.Shared;
        }
        catch (OrtLibraryException e)
        {
            console.MarkupLine($"[red]{Markup.Escape(e.Message)}[/]");
            return 1;
        }

        using var environment = OrtEnvironment.Create();
        var epDevices = environment.EpDevices;
        console.Write(LibraryTable(library));
        console.Write(EpDeviceTable(epDevices));
        console.Write(DeviceStringTable(library, epDevices));

        if (devices.Count == 0) return 0;
        var results = RunChecks(console, environment, devices);
        console.Write(ResultTable(results));
        foreach (var (device, error) in results.Where(r => r.Error is not null).Select(r => (r.Device, r.Error!)).Distinct())
            console.MarkupLine($"[red]{Markup.Escape(error.StartsWith(device.ToString(), StringComparison.Ordinal) ? error : $"{device}: {error}")}[/]");
        int passed = results.Count(r => r.Passed);
        console.MarkupLine(passed == results.Count
            ? $"[green]{passed}/{results.Count} checks passed[/]"
            : $"[red]{results.Count - passed} of {results.Count} checks failed[/]");
        return passed == results.Count ? 0 : 1;
    }

    private static Table LibraryTable(OrtLibrary library)
    {
        var table = new Table().Title("ONNX Runtime").AddColumn("").AddColumn("");
        table.HideHeaders();
        table.AddRow("Library", Markup.Escape($"{library.Path} ({library.Origin})"));
        table.AddRow("Version", library.Version);
        table.AddRow("C API version", library.ApiVersion.ToString(CultureInfo.InvariantCulture));
        table.AddRow("Build", Markup.Escape(library.BuildInfo));
        table.AddRow("Providers", Markup.Escape(string.Join(", ", library.AvailableProviders)));
        return table;
    }

    private static Table EpDeviceTable(IReadOnlyList<EpDeviceInfo> devices)
    {
        var table = new Table().Title("Execution-provider devices (OrtApi::GetEpDevices)")
            .AddColumns("EP", "EP vendor", "Type", "Vendor", "Vendor id", "Device id", "Metadata");
        foreach (var d in devices)
            table.AddRow(
                Markup.Escape(d.EpName), Markup.Escape(d.EpVendor), d.DeviceType, Markup.Escape(d.Vendor),
                $"0x{d.VendorId:x4}", $"0x{d.DeviceId:x4}",
                Markup.Escape(string.Join(", ", d.DeviceMetadata.Select(kv => $"{kv.Key}={kv.Value}"))));
        if (devices.Count == 0) table.AddRow("(none)", "", "", "", "", "", "");
        return table;
    }

    private static Table DeviceStringTable(OrtLibrary library, IReadOnlyList<EpDeviceInfo> epDevices)
    {
        var table = new Table().Title("Sd3Mesh device strings").AddColumns("Device", "Status here");
        table.AddRow("cpu, cpu:N", "ready: CPU execution provider (cpu:N are logical devices on it)");
        bool webGpuBuilt = library.AvailableProviders.Contains("WebGpuExecutionProvider");
        var webGpuDevices = epDevices.Where(d => d.EpName.Contains("WebGpu", StringComparison.OrdinalIgnoreCase)).ToList();
        table.AddRow("webgpu:0", !webGpuBuilt
            ? "[red]unavailable: this library has no WebGPU execution provider[/]"
            : webGpuDevices.Count > 0
                ? Markup.Escape($"ready: {string.Join(", ", webGpuDevices.Select(d => $"{d.Vendor} {d.DeviceType}"))}")
                : "provider built in; needs a GPU with Vulkan (try: sd3mesh doctor --check webgpu:0)");
        table.AddRow("webgpu:N, N > 0", "one GPU per process in ONNX Runtime 1.30: run one process per GPU, each with webgpu:0");
        string dir = Path.GetDirectoryName(library.Path) ?? ".";
        bool cudaProvider = File.Exists(Path.Combine(dir, "libonnxruntime_providers_cuda.so"))
                            && File.Exists(Path.Combine(dir, "libonnxruntime_providers_shared.so"));
        table.AddRow("cuda:N", cudaProvider
            ? "provider libraries found (try: sd3mesh doctor --check cuda:0)"
            : Markup.Escape($"unavailable: ONNX Runtime's CUDA provider package (libonnxruntime_providers_shared.so, libonnxruntime_providers_cuda.so) is not in {dir}"));
        return table;
    }

    private static List<SelfCheckResult> RunChecks(IAnsiConsole console, OrtEnvironment environment, List<Device> devices)
    {
        var results = new List<SelfCheckResult>();
        var cases = SelfChecks.All();
        ConsoleProgress.Run(console, devices.Select(d => ($"self-checks on {d}", cases.Count)).ToList(), (i, step) =>
        {
            foreach (var check in cases)
            {
                results.Add(SelfChecks.Run(environment, devices[i], check));
                step();
            }
        });
        return results;
    }

    private static Table ResultTable(List<SelfCheckResult> results)
    {
        var table = new Table().Title("Self-checks (relative L2 error vs a float64 reference)")
            .AddColumns("Device", "Check", "Type", "Rel. L2", "Max abs", "Tol.", "Result", "ms");
        foreach (var r in results)
            table.AddRow(
                r.Device.ToString(), Markup.Escape(r.Name), r.DType.Name(),
                Figure(r.RelativeL2Error), Figure(r.MaxAbsError), Figure(r.Tolerance),
                r.Passed ? "[green]pass[/]" : "[red]FAIL[/]",
                r.Elapsed.TotalMilliseconds.ToString("F0", CultureInfo.InvariantCulture));
        return table;
    }

    private static string Figure(double value) => double.IsNaN(value) ? "-" : value.ToString("0.##e+00", CultureInfo.InvariantCulture);
}
