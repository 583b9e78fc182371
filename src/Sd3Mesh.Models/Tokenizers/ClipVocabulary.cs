using System.IO.Compression;

namespace Sd3Mesh.Models.Tokenizers;

/// <summary>
/// OpenAI's CLIP vocabulary, built exactly as CLIP's SimpleTokenizer does from the embedded
/// bpe_simple_vocab_16e6.txt.gz: the 256 byte-level characters, the same with "&lt;/w&gt;", the joined
/// merges (the first 49152-256-2 lines after the version header), then &lt;|startoftext|&gt; and
/// &lt;|endoftext|&gt;: 49408 entries. Every CLIP model (ViT-L/14, OpenCLIP bigG) shares it.
/// </summary>
public sealed class ClipVocabulary
{
    public const int MergeCount = 49152 - 256 - 2;
    public const string StartOfText = "<|startoftext|>";
    public const string EndOfText = "<|endoftext|>";

    private static readonly Lazy<ClipVocabulary> Embedded = new(() => Parse(ReadEmbeddedMerges()));

    private ClipVocabulary(IReadOnlyList<string> tokens, IReadOnlyList<(string Left, string Right)> merges)
    {
        Tokens = tokens;
        Merges = merges;
    }

    /// <summary>Tokens by id (49408).</summary>
    public IReadOnlyList<string> Tokens { get; }

    /// <summary>BPE merges in rank order (48894).</summary>
    public IReadOnlyList<(string Left, string Right)> Merges { get; }

    public static ClipVocabulary Load() => Embedded.Value;

    private static string ReadEmbeddedMerges()
    {
        const string name = "Sd3Mesh.Models.clip.bpe_simple_vocab_16e6.txt.gz";
        using var stream = typeof(ClipVocabulary).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"embedded resource {name} is missing from Sd3Mesh.Models");
        using var gzip = new GZipStream(stream, CompressionMode.Decompress);
        using var reader = new StreamReader(gzip, System.Text.Encoding.UTF8);
        return reader.ReadToEnd();
    }

    private static ClipVocabulary Parse(string text)
    {
        // Python: read().decode().split('\n')[1:49152-256-2+1]
        var lines = text.Split('\n');
        if (lines.Length < MergeCount + 1)
            throw new InvalidDataException($"the CLIP merges file has {lines.Length - 1} merges, expected at least {MergeCount}");
        var merges = new (string, string)[MergeCount];
        for (int i = 0; i < MergeCount; i++)
        {
            var parts = lines[i + 1].Split(' ');
            if (parts.Length != 2) throw new InvalidDataException($"CLIP merge line {i + 2} is not two symbols: '{lines[i + 1]}'");
            merges[i] = (parts[0], parts[1]);
        }

        var tokens = new List<string>(49408);
        foreach (var b in ByteLevelAlphabet.Order) tokens.Add(ByteLevelAlphabet.ToChar(b).ToString());
        for (int i = 0; i < 256; i++) tokens.Add(tokens[i] + "</w>");
        foreach (var (left, right) in merges) tokens.Add(left + right);
        tokens.Add(StartOfText);
        tokens.Add(EndOfText);
        return new ClipVocabulary(tokens, merges);
    }
}
