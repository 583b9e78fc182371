using BenchmarkDotNet.Running;

namespace Sd3Mesh.Benchmarks;

// Runs the suites selected on the command line, e.g. `-- --filter '*OrtRun*'`. See docs/benchmarks.md.
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
