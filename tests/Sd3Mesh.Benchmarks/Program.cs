using BenchmarkDotNet.Running;

namespace Sd3Mesh.Benchmarks;

// `-- transport [...]` runs the tensor transport's harness (TransportThroughput); anything else selects
// BenchmarkDotNet suites, e.g. `-- --filter '*OrtRun*'`. See docs/benchmarks.md.
public static class Program
{
    public static async Task Main(string[] args)
    {
        if (args.FirstOrDefault() == "transport") await TransportThroughput.RunAsync(args[1..]);
        else BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
