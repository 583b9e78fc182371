using Sd3Mesh.Models.Tokenizers;

namespace Sd3Mesh.Models.Tests.Tokenizers;

/// <summary>SD3's T5 tokenizer: Unigram segmentation, rows, the synthetic vocabulary, spiece.model and tokenizer.json.</summary>
public class T5TokenizerTests
{
    // A hand-made Unigram model. Ids: 0 <pad>, 1 </s>, 2 <unk>, then the normal pieces. Lowest score -4, so an
    // unknown character costs -14.
    private static readonly UnigramPiece[] Pieces =
    [
        new("<pad>", 0), new("</s>", 0), new("<unk>", 0),
        new("▁", -2.0), new("a", -1.0), new("b", -1.0), new("ab", -1.5), new("▁a", -1.2), new("▁ab", -4.0), // 3..8
        new("c", -3.0), new("bc", -1.8), new("d", -1.0), new("e", -1.0), new("de", -2.0),                  // 9..13
    ];

    private static TextTokenizer Handmade(IPreTokenizer pre) => new(new UnigramModel(Pieces, 2), null, pre,
        new TemplateProcessor([TemplatePiece.Sequence, new TemplatePiece(false, [1])]),
        new[] { "<pad>", "</s>", "<unk>" }.Select(AddedToken.SpecialFromString), padToken: "<pad>");

    /// <summary>transformers 5's T5Tokenizer pre-tokenizer: words split on whitespace, each with "▁" in front.</summary>
    private static readonly IPreTokenizer T5Words = new SequencePreTokenizer([new WhitespaceSplitPreTokenizer(), new MetaspacePreTokenizer('\u2581', PrependScheme.Always, true)]);

    [Theory]
    // "▁abc": ▁a + bc = -3.0 beats ▁ + a + bc = -4.8, ▁a + b + c = -5.2, ▁ + ab + c = -6.5, ▁ab + c = -7.
    [InlineData("abc", new[] { 7, 10 })]
    // "▁ab" -> ▁a + b (-2.2) beats ▁ + ab (-3.5) and ▁ab (-4); 'z' has no piece: <unk> (-14).
    [InlineData("abz", new[] { 7, 5, 2 })]
    // Three unknown characters in a row fuse into one <unk>.
    [InlineData("zzq", new[] { 3, 2 })]
    // "▁de": ▁ + de and ▁ + d + e both score -4: the candidate found first (de, offered from d's start) stays.
    [InlineData("de", new[] { 3, 13 })]
    // Words: each gets its ▁; whitespace between and around words is dropped.
    [InlineData("  abc   de ", new[] { 7, 10, 3, 13 })]
    [InlineData("", new int[0])]
    [InlineData("   ", new int[0])]
    public void Viterbi_picks_the_highest_scoring_segmentation(string text, int[] expected)
    {
        Assert.Equal(expected, Handmade(T5Words).TokenIds(text));
    }

    [Fact]
    public void Metaspace_alone_keeps_a_piece_for_every_space_as_tokenizers_does()
    {
        // "  abc   de " -> "▁▁abc▁▁▁de▁", cut before each ▁: ▁ | ▁abc | ▁ | ▁ | ▁de | ▁
        Assert.Equal([3, 7, 10, 3, 3, 3, 13, 3], Handmade(new MetaspacePreTokenizer('\u2581', PrependScheme.Always, true)).TokenIds("  abc   de "));
    }

    [Fact]
    public void Rows_end_with_eos_then_pad_and_report_truncation()
    {
        var t5 = Handmade(T5Words);
        var row = t5.Encode("abc de", maxLength: 6);
        Assert.Equal(new long[] { 7, 10, 3, 13, 1, 0 }, row.Ids);
        Assert.Equal(5, row.TokenCount);
        Assert.False(row.WasTruncated);

        var cut = t5.Encode("abc de abc", maxLength: 4);
        Assert.Equal(new long[] { 7, 10, 3, 1 }, cut.Ids);
        Assert.Equal("de abc", cut.TruncatedText);
        Assert.Equal(4, cut.TokenCount);
        // max_sequence_length 1 leaves room for </s> alone, as tokenizers truncates.
        Assert.Equal(new long[] { 1 }, t5.Encode("abc", maxLength: 1).Ids);
        Assert.Throws<ArgumentOutOfRangeException>(() => t5.Encode("abc", maxLength: 0));
    }

    [Fact]
    public void Special_tokens_written_in_text_are_kept_whole()
    {
        Assert.Equal([7, 10, 1, 7, 10], Handmade(T5Words).TokenIds("abc</s>abc"));
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

        var t5 = WrittenTokenizers.T5;
        Assert.Equal(32100, t5.IdLimit);
        Assert.Equal(0, t5.PadId);
        Assert.Equal([1], ((TemplateProcessor)t5.PostProcessor!).Single[1].Ids);

        const string text = "a photo of a cat holding a sign that says hello world";
        var row = t5.Encode(text, 256);
        Assert.Equal(256, row.Ids.Length);
        int n = row.TokenCount;
        Assert.Equal(1L, row.Ids[n - 1]);
        Assert.All(row.Ids.Skip(n), id => Assert.Equal(0L, id));
        Assert.Equal(text, t5.Decode(row.Ids.Take(n - 1).Select(i => (int)i)));
        Assert.Equal("▁a ▁photo ▁of ▁a ▁cat ▁holding ▁a ▁sign ▁that ▁says ▁hello ▁world",
            string.Join(" ", row.Ids.Take(n - 1).Select(i => t5.IdToToken((int)i))));

        Assert.Equal([32099, 32000], t5.TokenIds("<extra_id_0><extra_id_99>"));
        var upper = t5.TokenIds("Zebra!");
        Assert.DoesNotContain(2, upper); // every printable ASCII character has a piece
        Assert.Equal("Zebra!", t5.Decode(upper));
        var unknown = t5.TokenIds("東京"); // no piece covers these characters: "▁" then one fused <unk>
        Assert.Equal(2, unknown.Count);
        Assert.Equal("▁", t5.IdToToken(unknown[0]));
        Assert.Equal(2, unknown[1]);
    }

    [Fact]
    public void Synthetic_T5_truncates_at_max_sequence_length()
    {
        var t5 = WrittenTokenizers.T5;
        var text = string.Join(' ', Enumerable.Repeat("cat", 300));
        var row = t5.Encode(text, 256);
        Assert.Equal(256, row.TokenCount);
        Assert.Equal(1L, row.Ids[255]);
        Assert.Equal(string.Join(' ', Enumerable.Repeat("cat", 45)), row.TruncatedText);
        Assert.Equal(512, t5.Encode(text, 512).Ids.Length);
    }

    /// <summary>
    /// A model trained by SentencePiece with nmt_nfkc: loaded as T5Tokenizer from spiece.model and from its
    /// tokenizer.json it gives the same ids, and the ids Hugging Face's tokenizers gives for that pipeline
    /// (Precompiled, WhitespaceSplit, Metaspace).
    /// </summary>
    [Fact]
    public void Spiece_model_and_tokenizer_json_load_alike_and_agree_with_tokenizers()
    {
        var results = PeerCases.Get();
        var fromModel = TokenizerFolder.Load(results.Directory, TokenizerClass.T5);
        var fromJson = TokenizerFolder.Load(Path.Combine(results.Directory, "json"), TokenizerClass.T5);
        Assert.IsType<PrecompiledNormalizer>(fromModel.Normalizer);
        Assert.IsType<PrecompiledNormalizer>(fromJson.Normalizer);
        var (_, peer) = results.Encoded["Unigram with Precompiled nmt_nfkc only"];
        for (int i = 0; i < PeerCases.Texts.Length; i++)
        {
            var text = PeerCases.Texts[i];
            if (text.Contains("<extra_id_")) continue; // the sentinels: appended to spiece.model's pieces, added after tokenizer.json's
            Assert.True(peer[i].SequenceEqual(fromJson.TokenIds(text)), $"tokenizer.json on '{PeerTests.Escape(text)}': [{string.Join(",", fromJson.TokenIds(text))}] vs tokenizers [{string.Join(",", peer[i])}]");
            Assert.Equal(fromJson.TokenIds(text), fromModel.TokenIds(text));
        }
    }

    [Fact]
    public void Precompiled_nmt_nfkc_charsmap_normalizes_like_NFKC()
    {
        var n = (PrecompiledNormalizer)TokenizerFolder.Load(PeerCases.Get().Directory, TokenizerClass.T5).Normalizer!;
        string Normalize(string s) => n.Normalize(NormalizedText.From(s)).ToString();
        Assert.Equal("full width A1", Normalize("ｆｕｌｌ\u3000ｗｉｄｔｈ Ａ①"));
        Assert.Equal("fi \u00C5 \u00C5", Normalize("ﬁ \u212B A\u030A"));
        Assert.Equal("kg", Normalize("㎏"));
    }
}
