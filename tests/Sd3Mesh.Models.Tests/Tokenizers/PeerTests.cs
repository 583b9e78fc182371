using System.Text.Json.Nodes;
using Sd3Mesh.Models.Tokenizers;

namespace Sd3Mesh.Models.Tests.Tokenizers;

/// <summary>Our tokenizer pipeline against Hugging Face's tokenizers library, component by component and whole.</summary>
public class PeerTests
{
    public static TheoryData<string> NormalizerNames => new(PeerCases.Normalizers.Select(n => n.Name));
    public static TheoryData<string> PreTokenizerNames => new(PeerCases.PreTokenizers.Select(n => n.Name));
    public static TheoryData<string> EncodeNames => new(PeerCases.EncodeCaseNames);
    public static TheoryData<string> SweepNames => new(["NFC", "NFD", "NFKC", "NFKD", "Lowercase"]);

    [Theory]
    [MemberData(nameof(NormalizerNames))]
    public void Normalizer_gives_the_strings_tokenizers_gives(string name)
    {
        var json = PeerCases.Normalizers.Single(n => n.Name == name).Normalizer;
        var normalizer = TokenizerJson.ReadNormalizer(Element(json), "test")!;
        var expected = PeerCases.Get().Normalized[name];
        for (int i = 0; i < PeerCases.Texts.Length; i++)
            Assert.True(expected[i] == normalizer.Normalize(NormalizedText.From(PeerCases.Texts[i])).ToString(),
                $"{name} on '{Escape(PeerCases.Texts[i])}': tokenizers gives '{Escape(expected[i])}', we give '{Escape(normalizer.Normalize(NormalizedText.From(PeerCases.Texts[i])).ToString())}'");
    }

    [Theory]
    [MemberData(nameof(SweepNames))]
    public void Unicode_tables_agree_with_tokenizers_on_every_code_point_of_planes_0_to_2(string type)
    {
        var (_, text) = PeerCases.UnicodeSweeps().Single(s => s.Type == type);
        var normalizer = TokenizerJson.ReadNormalizer(Element(new JsonObject { ["type"] = type }), "test")!;
        var ours = normalizer.Normalize(NormalizedText.From(text)).ToString().Split(' ');
        var theirs = PeerCases.Get().Normalized["sweep " + type][0].Split(' ');
        var source = text.Split(' ');
        Assert.Equal(theirs.Length, ours.Length);
        var differences = Enumerable.Range(0, theirs.Length).Where(i => theirs[i] != ours[i])
            .Select(i => $"{Escape(source[i])} -> tokenizers {Escape(theirs[i])}, ours {Escape(ours[i])}").Take(10).ToList();
        Assert.True(differences.Count == 0, $"{type} differs: {string.Join("; ", differences)}");
    }

    [Theory]
    [MemberData(nameof(PreTokenizerNames))]
    public void Pre_tokenizer_gives_the_words_tokenizers_gives(string name)
    {
        var json = PeerCases.PreTokenizers.Single(n => n.Name == name).PreTokenizer;
        var pre = TokenizerJson.ReadPreTokenizer(Element(json), "test");
        var expected = PeerCases.Get().PreTokenized[name];
        for (int i = 0; i < PeerCases.Texts.Length; i++)
        {
            var ours = pre.Split(NormalizedText.From(PeerCases.Texts[i])).Where(w => !w.IsEmpty).Select(w => w.ToString()).ToArray();
            Assert.True(expected[i].SequenceEqual(ours),
                $"{name} on '{Escape(PeerCases.Texts[i])}': tokenizers [{string.Join(" | ", expected[i].Select(Escape))}], ours [{string.Join(" | ", ours.Select(Escape))}]");
        }
    }

    [Theory]
    [MemberData(nameof(EncodeNames))]
    public void Tokenizer_json_encodes_to_the_ids_tokenizers_gives(string name)
    {
        var (c, expected) = PeerCases.Get().Encoded[name];
        var tokenizer = TokenizerFolder.LoadFile(c.File, c.PadToken);
        for (int i = 0; i < c.Texts.Length; i++)
        {
            int[] ours = c.RowLength is { } n ? tokenizer.Encode(c.Texts[i], n).Ids.Select(x => (int)x).ToArray()
                : (c.Special ? tokenizer.Encode(c.Texts[i]) : tokenizer.TokenIds(c.Texts[i])).ToArray();
            Assert.True(expected[i].SequenceEqual(ours),
                $"{name} on '{Escape(c.Texts[i])}':\n tokenizers [{string.Join(", ", expected[i])}]\n ours       [{string.Join(", ", ours)}]");
        }
    }

    private static System.Text.Json.JsonElement Element(JsonNode node) => System.Text.Json.JsonDocument.Parse(node.ToJsonString()).RootElement;

    public static string Escape(string s) => string.Concat(s.EnumerateRunes().Select(r =>
        r.Value is < 0x20 or (>= 0x7F and < 0xA0) or 0x2581 or (>= 0x300 and < 0x370) || r.Value > 0xFFFF ? $"\\u{{{r.Value:X}}}" : r.ToString()));
}
