using Sd3Mesh.Models.Tokenizers;

namespace Sd3Mesh.Pipeline.Tests.Support;

/// <summary>Tokenizer folders written once per test run by the Models layer (as the model zoo writes them).</summary>
public static class TokenizerFolders
{
    private static readonly Lazy<string> Folder = new(() =>
    {
        var root = Path.Combine(Path.GetTempPath(), "sd3mesh-tests-tokenizers-" + Environment.ProcessId);
        TokenizerFiles.WriteClip(Path.Combine(root, "tokenizer"), TokenizerFiles.ClipLPadToken);
        TokenizerFiles.WriteClip(Path.Combine(root, "tokenizer_2"), TokenizerFiles.ClipGPadToken);
        TokenizerFiles.WriteSyntheticT5(Path.Combine(root, "tokenizer_3"));
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(root, true); } catch (IOException) { } };
        return root;
    });

    /// <summary>The folder holding tokenizer/, tokenizer_2/ and tokenizer_3/.</summary>
    public static string Root => Folder.Value;
}
