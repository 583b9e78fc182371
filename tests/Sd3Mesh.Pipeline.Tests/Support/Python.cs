using System.Diagnostics;

namespace Sd3Mesh.Pipeline.Tests.Support;

/// <summary>
/// Runs a script with Debian's /usr/bin/python3 (the interpreter that has the packages
/// tests/setup-debian.sh installs) and returns its standard output; a failing script fails the test.
/// </summary>
public static class Python
{
    public const string Interpreter = "/usr/bin/python3";

    /// <summary>Runs a .py file copied next to the test assembly (path relative to the test project).</summary>
    public static string RunFile(string relativePath, params string[] args) =>
        Run(System.IO.File.ReadAllText(System.IO.Path.Combine(AppContext.BaseDirectory, relativePath)), args);

    public static string Run(string script, params string[] args)
    {
        if (!System.IO.File.Exists(Interpreter))
            throw new InvalidOperationException($"{Interpreter} is missing: run tests/setup-debian.sh");
        var psi = new ProcessStartInfo(Interpreter) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000)) { p.Kill(); throw new TimeoutException("python script ran over 60 s"); }
        if (p.ExitCode != 0) throw new InvalidOperationException($"python exited with {p.ExitCode}:\n{stderr.Result}");
        return stdout.Result;
    }
}
