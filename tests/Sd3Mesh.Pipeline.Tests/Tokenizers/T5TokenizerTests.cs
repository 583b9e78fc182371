using System.Text.Json;
using Sd3Mesh.Models.Tokenizers;
using Sd3Mesh.Pipeline.Tests.Support;
using Sd3Mesh.Pipeline.Tokenizers;

namespace Sd3Mesh.Pipeline.Tests.Tokenizers;

public class T5TokenizerTests
{
    // A hand-made Unigram model. Ids: 0 <pad>, 1 </s>, 2 <unk>, then the normal pieces.
    private static T5Tokenizer Handmade()
    {
        var pieces = new List<UnigramPiece>
        {
            new("<pad>", 0, PieceType.Control), new("</s>", 0, PieceType.Control), new("<unk>", 0, PieceType.Unknown),
            new("▁", -2.0f, PieceType.Normal),    // 3
            new("a", -1.0f, PieceType.Normal),    // 4
            new("b", -1.0f, PieceType.Normal),    // 5
            new("ab", -1.5f, PieceType.Normal),   // 6
            new("▁a", -1.2f, PieceType.Normal),   // 7
            new("▁ab", -4.0f, PieceType.Normal),  // 8
            new("c", -3.0f, PieceType.Normal),    // 9
            new("bc", -1.8f, PieceType.Normal),   // 10
            new("d", -1.0f, PieceType.Normal),    // 11
            new("e", -1.0f, PieceType.Normal),    // 12
            new("de", -2.0f, PieceType.Normal),   // 13
        };
        var specials = new Dictionary<string, int> { ["<pad>"] = 0, ["</s>"] = 1, ["<unk>"] = 2 };
        return new T5Tokenizer(new UnigramModel(pieces, 2), new SentencePieceNormalizer(null), specials, eosId: 1, padId: 0);
    }

    [Theory]
    // "▁abc": ▁a + bc = -3.0 beats ▁ + a + bc = -4.8, ▁a + b + c = -5.2, ▁ + ab + c = -6.5, ▁ab + c = -7.
    [InlineData("abc", new[] { 7, 10 })]
    // "▁ab" -> ▁a + b (-2.2) beats ▁ + ab (-3.5) and ▁ab (-4); 'z' has no piece: <unk> (score -3 - 10).
    [InlineData("abz", new[] { 7, 5, 2 })]
    // Three unknown characters in a row fuse into one <unk>.
    [InlineData("zzq", new[] { 3, 2 })]
    // "▁de": ▁ + de and ▁ + d + e both score -4: the path whose last piece starts earlier ("de") wins.
    [InlineData("de", new[] { 3, 13 })]
    // Words: each gets its ▁; runs of spaces collapse; leading/trailing spaces vanish.
    [InlineData("  abc   de ", new[] { 7, 10, 3, 13 })]
    [InlineData("", new int[0])]
    [InlineData("   ", new int[0])]
    public void Viterbi_picks_the_highest_scoring_segmentation(string text, int[] expected)
    {
        Assert.Equal(expected, Handmade().TokenIds(text));
    }

    [Fact]
    public void Rows_end_with_eos_then_pad_and_report_truncation()
    {
        var t5 = Handmade();
        var row = t5.Encode("abc de", maxLength: 6);
        Assert.Equal(new long[] { 7, 10, 3, 13, 1, 0 }, row.Ids);
        Assert.Equal(5, row.TokenCount);
        Assert.False(row.WasTruncated);

        var cut = t5.Encode("abc de abc", maxLength: 4);
        Assert.Equal(new long[] { 7, 10, 3, 1 }, cut.Ids);
        Assert.Equal("de abc", cut.TruncatedText);
        Assert.Equal(4, cut.TokenCount);
    }

    [Fact]
    public void Special_tokens_written_in_text_are_kept_whole()
    {
        Assert.Equal([7, 10, 1, 7, 10], Handmade().TokenIds("abc</s>abc"));
    }

    private static readonly string[] ReferenceTexts =
    [
        "a photo of a cat sitting on a red chair",
        "An astronaut riding a horse, digital art, 4k",
        "  Leading and trailing spaces   ",
        "tabs\tand\nnewlines\r\nand   runs of spaces",
        "ｆｕｌｌｗｉｄｔｈ ｃａｔ ａｎｄ ＤＯＧ",           // NFKC: fullwidth forms become ASCII
        "ﬁne ligatures ① ② and \u212B and e\u0301 and \u00A0nbsp",
        "unknown: 東京 😀 ♞ zebra quartz",
        "mountains,rivers;landscape... \"quoted\" (paren) [bracket]",
        "",
    ];

    private static (string Dir, JsonElement Reference) TrainReference(TempDirectory tmp)
    {
        var json = Python.RunFile("Tokenizers/SentencePieceReference.py", tmp.Path, JsonSerializer.Serialize(ReferenceTexts));
        return (tmp.Path, JsonDocument.Parse(json).RootElement);
    }

    [Fact]
    public void Matches_SentencePiece_on_a_trained_nmt_nfkc_model_from_spiece_model_and_tokenizer_json()
    {
        using var tmp = new TempDirectory();
        var (dir, reference) = TrainReference(tmp);
        var fromModel = T5Tokenizer.Load(dir);
        var fromJson = T5Tokenizer.Load(Path.Combine(dir, "json"));
        Assert.True(fromModel.Normalizer.HasCharsMap);
        Assert.True(fromJson.Normalizer.HasCharsMap);

        var expected = reference.GetProperty("ids").EnumerateArray().ToArray();
        var pieces = reference.GetProperty("pieces").EnumerateArray().ToArray();
        for (int i = 0; i < ReferenceTexts.Length; i++)
        {
            var want = expected[i].EnumerateArray().Select(e => e.GetInt32()).ToList();
            var context = $"text {i} '{ReferenceTexts[i]}': SentencePiece pieces {string.Join(" ", pieces[i].EnumerateArray())}";
            Assert.True(want.SequenceEqual(fromModel.TokenIds(ReferenceTexts[i])), $"spiece.model differs on {context}; got {string.Join(",", fromModel.TokenIds(ReferenceTexts[i]))}");
            Assert.True(want.SequenceEqual(fromJson.TokenIds(ReferenceTexts[i])), $"tokenizer.json differs on {context}");
        }
    }

    [Fact]
    public void Precompiled_nmt_nfkc_charsmap_normalizes_like_NFKC()
    {
        using var tmp = new TempDirectory();
        var (dir, _) = TrainReference(tmp);
        var n = T5Tokenizer.Load(dir).Normalizer;
        Assert.Equal("▁full▁width▁A1", n.Normalize("  ｆｕｌｌ\u3000ｗｉｄｔｈ   Ａ①  "));
        Assert.Equal("▁fi▁\u00C5", n.Normalize("ﬁ \u212B"));
        Assert.Equal("▁a▁b", n.Normalize("a\tb\n"));
    }

    [Fact]
    public void Synthetic_T5_vocabulary_round_trips_with_T5s_special_ids()
    {
        var vocab = SyntheticT5Vocabulary.Build();
        Assert.Equal(32100, vocab.Pieces.Count);
        Assert.Equal(("<pad>", 0f), vocab.Pieces[0]);
        Assert.Equal("</s>", vocab.Pieces[1].Piece);
        Assert.Equal("<unk>", vocab.Pieces[2].Piece);
        Assert.Equal("<extra_id_99>", vocab.Pieces[32000].Piece);
        Assert.Equal("<extra_id_0>", vocab.Pieces[32099].Piece);
        Assert.Equal(vocab.Pieces.Count, vocab.Pieces.Select(p => p.Piece).Distinct().Count());

        var t5 = T5Tokenizer.Load(TokenizerFolders.T5);
        Assert.Equal(32100, t5.VocabularySize);
        Assert.Equal(1, t5.EosId);
        Assert.Equal(0, t5.PadId);
        Assert.Equal(2, t5.UnkId);

        const string text = "a photo of a cat holding a sign that says hello world";
        var row = t5.Encode(text);
        Assert.Equal(256, row.Ids.Length);
        int n = row.TokenCount;
        Assert.Equal(1L, row.Ids[n - 1]);
        Assert.All(row.Ids.Skip(n), id => Assert.Equal(0L, id));
        Assert.Equal(text, t5.Decode(row.Ids.Take(n - 1).Select(i => (int)i)));
        // Common words are single pieces; every id is an ordinary piece.
        Assert.True(n - 1 == 12, "pieces: " + string.Join(" ", row.Ids.Take(n - 1).Select(i => t5.PieceOf((int)i))));
        Assert.Equal("▁a ▁photo ▁of ▁a ▁cat ▁holding ▁a ▁sign ▁that ▁says ▁hello ▁world",
            string.Join(" ", row.Ids.Take(n - 1).Select(i => t5.PieceOf((int)i))));
        Assert.All(row.Ids.Take(n - 1), id => Assert.InRange(id, 3, 31999));
        Assert.Equal("▁photo", t5.PieceOf((int)row.Ids[1]));

        Assert.Equal([32099, 32000], t5.TokenIds("<extra_id_0><extra_id_99>"));
        var upper = t5.TokenIds("Zebra!");
        Assert.DoesNotContain(2, upper); // every printable ASCII character has a piece
        Assert.Equal("Zebra!", t5.Decode(upper));
        var unknown = t5.TokenIds("東京"); // no piece covers these characters: "▁" then one fused <unk>
        Assert.Equal(2, unknown.Count);
        Assert.Equal("▁", t5.PieceOf(unknown[0]));
        Assert.Equal(2, unknown[1]);
    }

    [Fact]
    public void Synthetic_T5_truncates_at_max_sequence_length()
    {
        var t5 = T5Tokenizer.Load(TokenizerFolders.T5);
        var text = string.Join(' ', Enumerable.Repeat("cat", 300));
        var row = t5.Encode(text, 256);
        Assert.Equal(256, row.TokenCount);
        Assert.Equal(1L, row.Ids[255]);
        Assert.Equal(string.Join(' ', Enumerable.Repeat("cat", 45)), row.TruncatedText);
        Assert.Equal(512, t5.Encode(text, 512).Ids.Length);
    }
}
