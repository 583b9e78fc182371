using Sd3Mesh.Models.Tokenizers;

namespace Sd3Mesh.Models.Tests.Tokenizers;

/// <summary>SD3's CLIP tokenizers (the folders the model zoo writes, loaded as transformers 5's CLIPTokenizer).</summary>
public class ClipTokenizerTests
{
    private static TextTokenizer ClipL => WrittenTokenizers.ClipL;
    private static TextTokenizer ClipG => WrittenTokenizers.ClipG;

    // Known answers of Hugging Face's CLIP tokenizer with OpenAI's vocabulary. The first is the one every
    // CLIP user knows; the rest are the ids transformers.js's test suite records for
    // Xenova/clip-vit-base-patch16 (tests/models/clip/test_tokenization_clip.js, strings from
    // tests/models/test_strings.js).
    public static TheoryData<string, int[]> KnownAnswers => new()
    {
        { "a photo of a cat", [49406, 320, 1125, 539, 320, 2368, 49407] },
        { "How are you doing?", [49406, 829, 631, 592, 1960, 286, 49407] },
        { "You should've done this", [49406, 592, 1535, 1200, 1700, 589, 49407] },
        { "0123456789 0 1 2 3 4 5 6 7 8 9 10 100 1000", [49406, 271, 272, 273, 274, 275, 276, 277, 278, 279, 280, 271, 272, 273, 274, 275, 276, 277, 278, 279, 280, 272, 271, 272, 271, 271, 272, 271, 271, 271, 49407] },
        { "The company was founded in 2016.", [49406, 518, 2634, 739, 12240, 530, 273, 271, 272, 277, 269, 49407] },
        { "A\n'll !!to?'d''d of, can't.", [49406, 320, 1342, 748, 531, 13610, 323, 8445, 323, 539, 267, 753, 713, 269, 49407] },
        { "def main():\n\tpass", [49406, 11649, 2623, 7, 4143, 3511, 49407] },
        { "let a = obj.toString();\ntoString();", [49406, 1094, 320, 284, 1411, 329, 269, 580, 9696, 7, 19686, 580, 9696, 7, 19686, 49407] },
        { "This\n\nis\na\ntest.", [49406, 589, 533, 320, 1628, 269, 49407] },
        { "UNwant\u00e9d,running", [49406, 569, 18356, 3459, 323, 267, 2761, 49407] },
        { "Hello World", [49406, 3306, 1002, 49407] },
        { "hello world", [49406, 3306, 1002, 49407] },
        { "   leading space", [49406, 3833, 2138, 49407] },
        { "trailing space   ", [49406, 37427, 2138, 49407] },
        { "Hi  Hello", [49406, 1883, 3306, 49407] },
        { "test $1 R2 #3 €4 £5 ¥6 ₣7 ₹8 ₱9 test", [49406, 1628, 259, 272, 337, 273, 258, 274, 6309, 275, 1950, 276, 20199, 277, 5227, 352, 278, 21777, 279, 5227, 365, 280, 1628, 49407] },
        { "I bought an apple for $1.00 at the store.", [49406, 328, 4142, 550, 3055, 556, 259, 272, 269, 271, 271, 536, 518, 2183, 269, 49407] },
        { "you…  ", [49406, 592, 959, 49407] },
        { "\u0079\u006F\u0075\u2026\u00A0\u00A0\u0079\u006F\u0075\u2026\u00A0\u00A0", [49406, 592, 959, 592, 959, 49407] },
        { "weird \uFF5E edge \uFF5E case", [49406, 5613, 171, 121, 508, 5461, 171, 121, 508, 2068, 49407] },
        { "▁This ▁is ▁a ▁test ▁.", [49406, 4168, 479, 589, 4168, 479, 533, 4168, 479, 320, 4168, 479, 1628, 4168, 223, 269, 49407] },
        { "😂 👍 🤣 😍 😭 🎉 🙏 😊 🔥 😁 😅 🤗 😆 👏 ❤️ 💜 💚 💗 💙 🖤 😎 👌 🥳 💪 ✨ 👉 👀 💯 🎈 🙈 🙌 💀 👇 👋 ✅ 🎁 🌞 🌸 💰",
            [49406, 1558, 4201, 9909, 1754, 3915, 3986, 5503, 3020, 3016, 4821, 9188, 10465, 10943, 4829, 1752, 4882, 6521, 6690, 4074, 10860, 4345, 4494, 28055, 6440, 3531, 3988, 5908, 7018, 14448, 9516, 4855, 12158, 7475, 17686, 5564, 13462, 12980, 10980, 14078, 49407] },
        { "", [49406, 49407] },
    };

    [Theory]
    [MemberData(nameof(KnownAnswers))]
    public void Encodes_known_answers_then_pads_with_endoftext(string text, int[] expected)
    {
        var row = ClipL.Encode(text, 77);
        Assert.Equal(77, row.Ids.Length);
        Assert.Equal(expected.Select(i => (long)i), row.Ids.Take(expected.Length));
        Assert.All(row.Ids.Skip(expected.Length), id => Assert.Equal(49407L, id));
        Assert.Equal(expected.Length, row.TokenCount);
        Assert.False(row.WasTruncated);
    }

    [Fact]
    public void Tokenizer_2_pads_with_exclamation_mark_id_0()
    {
        var row = ClipG.Encode("a photo of a cat", 77);
        Assert.Equal(new long[] { 49406, 320, 1125, 539, 320, 2368, 49407 }, row.Ids.Take(7));
        Assert.All(row.Ids.Skip(7), id => Assert.Equal(0L, id));
        Assert.Equal(0, ClipG.PadId);
        Assert.Equal(77, WrittenTokenizers.ClipL.ModelMaxLength);
    }

    /// <summary>
    /// The case: "!" is tokenizer_2's pad token, an added special token, so it is cut out of the text
    /// before BPE: "wow!" is "wow" + 0 there, and "wow" + "!&lt;/w&gt;" (256) for tokenizer, which pads with &lt;|endoftext|&gt;.
    /// </summary>
    [Fact]
    public void Exclamation_mark_is_tokenizer_2s_added_pad_token_and_splits_words()
    {
        int wow = ClipL.TokenToId("wow</w>")!.Value;
        Assert.Equal([wow, 256], ClipL.TokenIds("wow!"));
        Assert.Equal([wow, 0], ClipG.TokenIds("wow!"));
        Assert.Equal([0, 0, wow], ClipG.TokenIds("!!wow"));
        Assert.True(ClipG.Added.IsSpecial(0));
    }

    [Fact]
    public void Special_tokens_typed_in_a_prompt_stay_whole_and_case_matters()
    {
        Assert.Equal([320, 49407, 2368], ClipL.TokenIds("a<|endoftext|>cat"));
        Assert.Equal([49406, 49406, 320, 49407, 49407], ClipL.Encode("<|startoftext|>a<|endoftext|>"));
        // Not normalized (transformers 5 adds special tokens that way): the upper-case spelling is plain text.
        Assert.DoesNotContain(49407, ClipL.TokenIds("<|ENDOFTEXT|>"));
    }

    [Fact]
    public void Long_prompts_keep_75_tokens_then_EOS_and_report_the_rest()
    {
        var text = string.Concat(Enumerable.Repeat("word ", 200));
        var row = ClipL.Encode(text, 77);
        Assert.Equal(77, row.Ids.Length);
        Assert.Equal(49406L, row.Ids[0]);
        Assert.Equal(49407L, row.Ids[76]);
        long word = ClipL.TokenIds("word").Single();
        Assert.All(row.Ids.Skip(1).Take(75), id => Assert.Equal(word, id));
        Assert.Equal(string.Join(' ', Enumerable.Repeat("word", 125)), row.TruncatedText);
        Assert.Equal(77, row.TokenCount);
    }

    [Fact]
    public void Seventy_five_tokens_fit_without_truncation()
    {
        var row = ClipL.Encode(string.Concat(Enumerable.Repeat("cat ", 75)), 77);
        Assert.False(row.WasTruncated);
        Assert.Equal(49407L, row.Ids[76]);
        Assert.Equal(2368L, row.Ids[75]);
    }

    [Fact]
    public void Written_vocabulary_is_OpenAIs_49408_entries()
    {
        var vocab = ClipVocabulary.Load();
        Assert.Equal(49408, vocab.Tokens.Count);
        Assert.Equal(48894, vocab.Merges.Count);
        Assert.Equal("!", vocab.Tokens[0]);
        Assert.Equal("a</w>", vocab.Tokens[320]);
        Assert.Equal("photo</w>", vocab.Tokens[1125]);
        Assert.Equal("<|startoftext|>", vocab.Tokens[49406]);
        Assert.Equal("<|endoftext|>", vocab.Tokens[49407]);
        Assert.Equal(("i", "n"), vocab.Merges[0]);
        Assert.Equal(49408, ClipL.IdLimit);
        Assert.Equal(49407, ClipL.PadId);
    }

    [Fact]
    public void Tokens_carry_end_of_word_markers_and_decode_to_lower_cased_text()
    {
        Assert.Equal(["un", "want", "Ã©", "d</w>", ",</w>", "running</w>"], ClipL.TokenIds("UNwant\u00e9d,running").Select(i => ClipL.IdToToken(i)));
        Assert.Equal("a photo of a cat , 4 k !", ClipL.Decode(ClipL.TokenIds("A photo of a Cat, 4k!")));
    }

    [Fact]
    public void Byte_level_alphabet_round_trips_every_byte()
    {
        var seen = new HashSet<char>();
        for (int b = 0; b < 256; b++)
        {
            char c = ByteLevelAlphabet.ToChar((byte)b);
            Assert.True(seen.Add(c));
            Assert.True(ByteLevelAlphabet.TryToByte(c, out byte back));
            Assert.Equal((byte)b, back);
        }
        Assert.Equal('Ġ', ByteLevelAlphabet.ToChar((byte)' ')); // U+0120, as in GPT-2
        Assert.Equal("héllo wörld", ByteLevelAlphabet.Decode(ByteLevelAlphabet.Encode("héllo wörld")));
    }
}
