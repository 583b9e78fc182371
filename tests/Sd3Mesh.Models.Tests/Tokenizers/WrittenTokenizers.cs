using Sd3Mesh.Models.Repository;
using Sd3Mesh.Models.Tokenizers;

namespace Sd3Mesh.Models.Tests.Tokenizers;

/// <summary>The tokenizer folders the model zoo writes (written once per test run), loaded as diffusers loads SD3's.</summary>
public static class WrittenTokenizers
{
    private static readonly Lazy<string> Folder = new(() =>
    {
        var root = Directory.CreateTempSubdirectory("sd3mesh-tokenizers-").FullName;
        TokenizerFiles.WriteClip(Path.Combine(root, RepositoryLayout.TokenizerFolders[0]), TokenizerFiles.ClipLPadToken);
        TokenizerFiles.WriteClip(Path.Combine(root, RepositoryLayout.TokenizerFolders[1]), TokenizerFiles.ClipGPadToken);
        TokenizerFiles.WriteSyntheticT5(Path.Combine(root, RepositoryLayout.TokenizerFolders[2]));
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(root, true); } catch (IOException) { } };
        return root;
    });

    private static readonly Lazy<Sd3Tokenizers> Loaded = new(() => Sd3Tokenizers.Load(Folder.Value));

    public static string Root => Folder.Value;
    public static TextTokenizer ClipL => Loaded.Value.Clip;
    public static TextTokenizer ClipG => Loaded.Value.Clip2;
    public static TextTokenizer T5 => Loaded.Value.T5!;
}
