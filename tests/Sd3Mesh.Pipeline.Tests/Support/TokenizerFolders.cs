using Sd3Mesh.Models.Tokenizers;

namespace Sd3Mesh.Pipeline.Tests.Support;

/// <summary>Tokenizer folders written once per test run by the Models layer (as the model zoo writes them).</summary>
public static class TokenizerFolders
{
    private static readonly Lazy<string> Root = new(() =>
    {
        var root = Path.Combine(Path.GetTempPath(), "sd3mesh-tests-tokenizers-" + Environment.ProcessId);
        TokenizerFiles.WriteClip(Path.Combine(root, "tokenizer"), TokenizerFiles.ClipLPadToken);
        TokenizerFiles.WriteClip(Path.Combine(root, "tokenizer_2"), TokenizerFiles.ClipGPadToken);
        TokenizerFiles.WriteSyntheticT5(Path.Combine(root, "tokenizer_3"));
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(root, true); } catch (IOException) { } };
        return root;
    });

    public static string ClipL => Path.Combine(Root.Value, "tokenizer");
    public static string ClipG => Path.Combine(Root.Value, "tokenizer_2");
    public static string T5 => Path.Combine(Root.Value, "tokenizer_3");
}
