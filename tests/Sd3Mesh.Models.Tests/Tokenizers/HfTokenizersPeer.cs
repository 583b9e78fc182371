using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Sd3Mesh.Models.Tests.Tokenizers;

/// <summary>
/// Hugging Face's tokenizers library (0.23.2, the Rust code through its Node binding, installed by
/// tests/setup-node.sh into tests/peers/node) run once for a batch of requests: tokenizer.json files encoded,
/// normalizers applied. See tests/peers/node/tokenize.js for the request format.
/// </summary>
public static class HfTokenizersPeer
{
    public static string Folder
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Sd3Mesh.sln"))) return Path.Combine(dir.FullName, "tests", "peers", "node");
            throw new InvalidOperationException($"no Sd3Mesh.sln above {AppContext.BaseDirectory}: cannot find tests/peers/node");
        }
    }

    public static JsonNode Run(JsonObject request)
    {
        var folder = Folder;
        if (!File.Exists(Path.Combine(folder, "node_modules", "tokenizers", "package.json")))
            throw new InvalidOperationException($"{folder}/node_modules/tokenizers is missing: run tests/setup-node.sh (it needs node and npm)");
        var psi = new ProcessStartInfo("node") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = folder };
        psi.ArgumentList.Add("tokenize.js");
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("node is not on PATH: the tokenizer tests need Node.js (run tests/setup-node.sh)", e);
        }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            p.StandardInput.Write(request.ToJsonString());
            p.StandardInput.Close();
            if (!p.WaitForExit(120_000)) { p.Kill(true); throw new TimeoutException("the tokenizers peer ran over 120 s"); }
            if (p.ExitCode != 0) throw new InvalidOperationException($"the tokenizers peer failed ({p.ExitCode}): {stderr.Result}");
            return JsonNode.Parse(stdout.Result)!;
        }
    }

    public static int[] Ids(JsonNode node) => node.AsArray().Select(n => n!.GetValue<int>()).ToArray();
}
