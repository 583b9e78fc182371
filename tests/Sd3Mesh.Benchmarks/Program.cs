using BenchmarkDotNet.Running;

// Runs the suites selected on the command line, e.g. `-- --filter '*OrtRun*'`. See docs/benchmarks.md.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
