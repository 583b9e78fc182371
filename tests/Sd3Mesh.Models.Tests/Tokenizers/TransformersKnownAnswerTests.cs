using System.Text.Json;
using System.Text.Json.Nodes;
using Sd3Mesh.Models.Tokenizers;

namespace Sd3Mesh.Models.Tests.Tokenizers;

/// <summary>
/// What transformers 5.17.0 (with tokenizers 0.23.2, on the device host, 2026-12-06) returned for
/// <c>tokenizer(text, padding="max_length", max_length=n, truncation=True).input_ids</c>, the call diffusers
/// makes, with tokenizer folders loaded by from_pretrained: CLIPTokenizer from vocab.json + merges.txt (a
/// small byte-level vocabulary; pad &lt;|endoftext|&gt; as SD3's tokenizer, "!" as tokenizer_2), and
/// T5TokenizerFast from a tokenizer.json shaped like SD3's tokenizer_3 (Precompiled with a small compiled rule
/// set, Replace, Metaspace). transformers 5 rebuilt both pipelines from the class (T5: Precompiled only, then
/// WhitespaceSplit and Metaspace), which <see cref="TokenizerFolder"/> follows.
/// </summary>
public sealed class TransformersKnownAnswerTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    private static readonly string[] ClipTexts =
        ["wow!", "a wow! cat!!", "!!!", "a <|endoftext|> b", "A <|ENDOFTEXT|> B", "<|startoftext|>x", "x<|endoftext|>", "  wow  cat  ",
         "ＣＡＴ café e\u0301", "İ ΣΑΣ", "wow!wow ! !wow", ""];

    private static readonly int[][] ClipL =
    [
        [516, 513, 256, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517],
        [516, 320, 513, 256, 515, 0, 256, 517, 517, 517, 517, 517, 517, 517, 517, 517],
        [516, 0, 0, 256, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517],
        [516, 320, 517, 321, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517],
        [516, 320, 27, 347, 68, 77, 67, 78, 69, 83, 68, 87, 339, 91, 285, 517],
        [516, 516, 343, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517],
        [516, 343, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517],
        [516, 513, 515, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517],
        [516, 171, 121, 225, 171, 121, 223, 171, 121, 498, 514, 69, 127, 358, 127, 517],
        [516, 328, 136, 485, 139, 225, 138, 109, 139, 481, 517, 517, 517, 517, 517, 517],
        [516, 513, 256, 513, 256, 256, 513, 517, 517, 517, 517, 517, 517, 517, 517, 517],
        [516, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517, 517],
    ];

    private static readonly int[][] ClipG =
    [
        [516, 513, 0, 517, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [516, 320, 513, 0, 515, 0, 0, 517, 0, 0, 0, 0, 0, 0, 0, 0],
        [516, 0, 0, 0, 517, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [516, 320, 517, 321, 517, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [516, 320, 27, 347, 68, 77, 67, 78, 69, 83, 68, 87, 339, 91, 285, 517],
        [516, 516, 343, 517, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [516, 343, 517, 517, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [516, 513, 515, 517, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [516, 171, 121, 225, 171, 121, 223, 171, 121, 498, 514, 69, 127, 358, 127, 517],
        [516, 328, 136, 485, 139, 225, 138, 109, 139, 481, 517, 0, 0, 0, 0, 0],
        [516, 513, 0, 513, 0, 0, 513, 517, 0, 0, 0, 0, 0, 0, 0, 0],
        [516, 517, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ];

    private static readonly string[] T5Texts = ["a cat wow", "  a  cat  ", "a\tcat\nwow", "ＣＡＴ ① ﬁ", "<pad> </s> <extra_id_0> a</s>b", "Å A\u030a", "", " "];

    private static readonly int[][] T5 =
    [
        [3, 4, 5, 12, 1, 0, 0, 0, 0, 0, 0, 0],
        [3, 4, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        [3, 4, 5, 12, 1, 0, 0, 0, 0, 0, 0, 0],
        [3, 18, 19, 20, 3, 21, 3, 9, 11, 1, 0, 0],
        [0, 1, 122, 3, 4, 1, 3, 2, 1, 0, 0, 0],
        [3, 22, 3, 22, 1, 0, 0, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ];

    /// <summary>Rules compiled by SentencePiece (normalization_rule_tsv): fullwidth C, A, T; ① -> 1; ﬁ -> fi; tab, newline and U+3000 -> space; A + ring -> Å.</summary>
    private const string CharsMap = "AAQAAAAgAAAJCQAACgUAAAAAAIDMLAIAig0AAA0AAICRvAIAoAUAAAIAAICABAIAgCEAAKwAAgCBDQAACgAAgLR1AAAEAACABgAAgAgAAIASAAAAFQAAABQAAAAXAAAAFgAAAKMlAAAYAAAAoSkAABoAAAC8nAIAHAAAAB8AAAAeAAAAIQAAACAAAAAjAAAAIgAAACUAAAAkAAAAJwAAACYAAAApAAAAKAAAACsAAAAqAAAALQAAACwAAAAvAAAALgAAADEAAAAwAAAAMwAAADIAAAA1AAAANAAAADcAAAA2AAAAOQAAADgAAAA7AAAAOgAAAD0AAAA8AAAAPwAAAD4AAABBAAAAQAAAAEMAAABCAAAARQAAAEQAAABHAAAARgAAAEkAAABBBAIASwAAAEoAAABNAAAATAAAAE8AAABOAAAAUQAAAFAAAABTAAAAUgAAAFUAAABUAAAAVwAAAFYAAABZAAAAWAAAAFsAAABaAAAAXQAAAFwAAABfAAAAXgAAAGEAAABgAAAAYwAAAGIAAABlAAAAZAAAAGcAAABmAAAAaQAAAGgAAABrAAAAagAAAG0AAABsAAAAbwAAAG4AAABxAAAAcAAAAHMAAAByAAAAdQAAAHQAAAB3AAAAdgAAAHkAAAB4AAAAewAAAHoAAAB9AAAAfAAAAH8AAAB+AAAAgQAAAIAAAACDAAAAggAAAIUAAACEAAAAhwAAAIYAAACJAAAAiAAAAIsAAACKAAAAjQAAAIwAAACPAAAAjgAAAJEAAACQAAAAkwAAAJIAAACVAAAAlAAAAJcAAACWAAAAmQAAAJgAAACbAAAAmgAAAJ0AAACcAAAAnwAAAJ4AAAChAAAAoAAAAKMAAACiAAAApQAAAKQAAACnAAAApgAAAKkAAACoAAAAqwAAAKoAAACtAAAArAAAAK8AAACuAAAAsQAAALAAAACzAAAAsgAAALUAAAC0AAAAtwAAALYAAAC5AAAAuAAAALsAAAC6AAAAvQAAALwAAAC/AAAAvgAAAMEAAADAAAAAwwAAAMIAAADFAAAAxAAAAMcAAADGAAAAyQAAAMgAAADLAAAAygAAAM0AAADMAAAAzwAAAM4AAADRAAAA0AAAANMAAADSAAAA1QAAANQAAADXAAAA1gAAANkAAADYAAAA2wAAANoAAADdAAAA3AAAAN8AAADeAAAA4QAAAOAAAADjAAAA4gAAAOUAAADkAAAA5wAAAO8cAQDpAAAA6AAAAOLwAQDjhAEA7QAAAOwAAADvAAAA7gAAAPEAAADwAAAA8wAAAPIAAAD1AAAA9AAAAPcAAAD2AAAA+QAAAPgAAAD7AAAA+gAAAP0AAAD8AAAA/wAAAP4AAAAgADEAQQBDAFQAZmkAw4UA";

    [Theory]
    [InlineData("<|endoftext|>")]
    [InlineData("!")]
    public void ClipTokenizer_rows_equal_transformers_5(string pad)
    {
        var dir = _dir.Sub("clip");
        Directory.CreateDirectory(dir);
        var tokens = ByteLevelAlphabet.Order.ToArray().Select(b => ByteLevelAlphabet.ToChar(b).ToString()).ToList();
        tokens.AddRange(tokens.ToList().Select(t => t + "</w>"));
        (string, string)[] merges = [("w", "o"), ("wo", "w</w>"), ("c", "a"), ("ca", "t</w>")];
        tokens.AddRange(merges.Select(m => m.Item1 + m.Item2));
        tokens.AddRange(["<|startoftext|>", "<|endoftext|>"]);
        File.WriteAllText(Path.Combine(dir, "vocab.json"), JsonSerializer.Serialize(tokens.Select((t, i) => (t, i)).ToDictionary(x => x.t, x => x.i)));
        File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\n" + string.Concat(merges.Select(m => $"{m.Item1} {m.Item2}\n")));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), new JsonObject
        {
            ["tokenizer_class"] = "CLIPTokenizer", ["bos_token"] = "<|startoftext|>", ["eos_token"] = "<|endoftext|>",
            ["unk_token"] = "<|endoftext|>", ["pad_token"] = pad, ["model_max_length"] = 77,
        }.ToJsonString());

        var tokenizer = TokenizerFolder.Load(dir, TokenizerClass.Clip);
        var expected = pad == "!" ? ClipG : ClipL;
        for (int i = 0; i < ClipTexts.Length; i++)
            Assert.True(expected[i].SequenceEqual(tokenizer.Encode(ClipTexts[i], 16).Ids.Select(x => (int)x)),
                $"'{PeerTests.Escape(ClipTexts[i])}': transformers [{string.Join(", ", expected[i])}], ours [{string.Join(", ", tokenizer.Encode(ClipTexts[i], 16).Ids)}]");
    }

    [Fact]
    public void T5TokenizerFast_rows_equal_transformers_5()
    {
        var dir = _dir.Sub("t5");
        Directory.CreateDirectory(dir);
        (string, double)[] pieces =
        [
            ("<pad>", 0), ("</s>", 0), ("<unk>", 0), ("▁", -1.3), ("a", -2), ("▁cat", -2.1), ("o", -2.5), ("t", -3), ("e", -3), ("f", -3), ("h", -3),
            ("i", -3), ("▁wow", -3), ("n", -3.6), ("▁c", -5), ("cat", -5.7), ("w", -6.8), ("c", -6.8), ("C", -7), ("A", -7), ("T", -7), ("1", -7), ("Å", -7),
        ];
        var vocab = new JsonArray(pieces.Select(p => (JsonNode)new JsonArray(p.Item1, p.Item2)).ToArray());
        for (int i = 99; i >= 0; i--) vocab.Add(new JsonArray($"<extra_id_{i}>", 0.0));
        var json = TokenizerJsonBuilder.Tokenizer(
            new JsonObject { ["type"] = "Unigram", ["unk_id"] = 2, ["vocab"] = vocab, ["byte_fallback"] = false },
            TokenizerJsonBuilder.Type("Sequence", ("normalizers", TokenizerJsonBuilder.Array(
                TokenizerJsonBuilder.Type("Precompiled", ("precompiled_charsmap", CharsMap)),
                TokenizerJsonBuilder.Type("Replace", ("pattern", TokenizerJsonBuilder.Regex(" {2,}")), ("content", " "))))),
            TokenizerJsonBuilder.Type("Metaspace", ("replacement", "\u2581"), ("prepend_scheme", "always"), ("split", true)),
            TokenizerJsonBuilder.T5Template(), TokenizerJsonBuilder.T5Specials());
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString());
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), new JsonObject
        {
            ["tokenizer_class"] = "T5Tokenizer", ["eos_token"] = "</s>", ["unk_token"] = "<unk>", ["pad_token"] = "<pad>", ["extra_ids"] = 100, ["model_max_length"] = 512,
        }.ToJsonString());

        var tokenizer = TokenizerFolder.Load(dir, TokenizerClass.T5);
        for (int i = 0; i < T5Texts.Length; i++)
            Assert.True(T5[i].SequenceEqual(tokenizer.Encode(T5Texts[i], 12).Ids.Select(x => (int)x)),
                $"'{PeerTests.Escape(T5Texts[i])}': transformers [{string.Join(", ", T5[i])}], ours [{string.Join(", ", tokenizer.Encode(T5Texts[i], 12).Ids)}]");
    }
}
