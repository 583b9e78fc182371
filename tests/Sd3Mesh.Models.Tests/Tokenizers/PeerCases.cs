using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Sd3Mesh.Models.Tokenizers;
using static Sd3Mesh.Models.Tests.Tokenizers.TokenizerJsonBuilder;

namespace Sd3Mesh.Models.Tests.Tokenizers;

/// <summary>
/// The cases the tokenizer tests put to Hugging Face's tokenizers (one peer process for all of them, on first
/// use): normalizers and pre-tokenizers on strings, and tokenizer.json pipelines encoded to ids, built here
/// (synthetic T5 Unigram, OpenAI's CLIP BPE, a small byte-level BPE) and from a SentencePiece model trained
/// with nmt_nfkc (Debian's python3-sentencepiece) for a real Precompiled charsmap.
/// </summary>
public static class PeerCases
{
    public const string LongPrompt =
        "a majestic lighthouse standing on a rocky cliff above a stormy sea, huge waves crashing, dark clouds, a single beam of warm light " +
        "cutting through heavy rain, white birds, a small wooden boat, foam, dramatic, rich texture, muted colours, a quiet sense of courage " +
        "facing the wild ocean, wow! distant hills peeking through a narrow gap, oil painting, highly detailed, cinematic lighting, golden hour, " +
        "trending on artstation, a dramatic sky at dusk";

    /// <summary>Texts every pipeline sees: ASCII, whitespace, compatibility forms, combining marks, casing, Hangul, outside the BMP.</summary>
    public static readonly string[] Texts =
    [
        "a photo of a cat",
        "An astronaut riding a horse, digital art, 4k!",
        "  leading and trailing  ",
        "two  spaces and\ttabs\nand newlines\r\n",
        "ｆｕｌｌｗｉｄｔｈ ＣＡＴ ①② ﬁne ㎏",
        "café cafe\u0301 \u212B A\u030A e\u0323\u0307 \u1E0B\u0323 q\u0307\u0323",
        "İstanbul ΣΑΣ Straße ǅ Ⅻ",
        "한국어 \u1100\u1161\u11A8 \uAC00\u11A8",
        "unknown: 東京 😀 𝐀𝐁 𝟙 ♞ \U0001F1EF\U0001F1F5",
        "wow! wow!! !wow",
        "<pad></s> <unk> <extra_id_0>x",
        "I'm here, you're there; it's 5 o'clock",
        "",
        " ",
    ];

    /// <summary>What CLIP tokenizers also see: their special tokens typed in a prompt, and a prompt longer than 77 tokens.</summary>
    public static readonly string[] ClipTexts =
    [
        .. Texts,
        "<|startoftext|>a<|endoftext|>",
        "a <|endoftext|> b<|endoftext|>",
        "A <|ENDOFTEXT|> B",
        "a<|endoftext|>cat",
        "wow!",
        LongPrompt,
    ];

    public static readonly (string Name, JsonObject Normalizer)[] Normalizers =
    [
        ("NFC", Type("NFC")), ("NFD", Type("NFD")), ("NFKC", Type("NFKC")), ("NFKD", Type("NFKD")),
        ("Lowercase", Type("Lowercase")),
        ("Strip", Type("Strip", ("strip_left", true), ("strip_right", true))),
        ("Strip left", Type("Strip", ("strip_left", true), ("strip_right", false))),
        ("StripAccents after NFD", Type("Sequence", ("normalizers", Array(Type("NFD"), Type("StripAccents"))))),
        ("Replace string", Type("Replace", ("pattern", Literal("  ")), ("content", " "))),
        ("Replace regex", Type("Replace", ("pattern", Regex(" {2,}")), ("content", "\u2581"))),
        ("Replace whitespace runs", Type("Replace", ("pattern", Regex(@"\s+")), ("content", " "))),
        ("Prepend", Type("Prepend", ("prepend", "\u2581"))),
        ("Sequence NFKC Lowercase Strip", Type("Sequence", ("normalizers", Array(Type("NFKC"), Type("Lowercase"), Type("Strip", ("strip_left", true), ("strip_right", true)))))),
        ("CLIP (NFC, Replace, Lowercase)", ClipNormalizer()),
    ];

    public static readonly (string Name, JsonObject PreTokenizer)[] PreTokenizers =
    [
        ("Metaspace always", Metaspace("always", true)),
        ("Metaspace first", Metaspace("first", true)),
        ("Metaspace never", Metaspace("never", true)),
        ("Metaspace no split", Metaspace("always", false)),
        ("Metaspace legacy add_prefix_space", Type("Metaspace", ("replacement", "\u2581"), ("add_prefix_space", true))),
        ("WhitespaceSplit", Type("WhitespaceSplit")),
        ("WhitespaceSplit then Metaspace", Type("Sequence", ("pretokenizers", Array(Type("WhitespaceSplit"), Metaspace("always", true))))),
        ("ByteLevel", Type("ByteLevel", ("add_prefix_space", true), ("trim_offsets", true), ("use_regex", true))),
        ("ByteLevel no prefix space", Type("ByteLevel", ("add_prefix_space", false), ("trim_offsets", true), ("use_regex", true))),
        ("ByteLevel no regex", Type("ByteLevel", ("add_prefix_space", false), ("trim_offsets", true), ("use_regex", false))),
        ("Split removed", Split(Regex(@"\s+"), "Removed", false)),
        ("Split isolated", Split(Regex(@"\p{P}"), "Isolated", false)),
        ("Split merged with previous", Split(Regex(@"\p{P}"), "MergedWithPrevious", false)),
        ("Split merged with next", Split(Literal(" "), "MergedWithNext", false)),
        ("Split contiguous", Split(Regex(@"[aeiou]"), "Contiguous", false)),
        ("Split inverted", Split(Regex(@"\p{L}+"), "Removed", true)),
        ("CLIP (Split, ByteLevel)", ClipPreTokenizer()),
    ];

    private static JsonObject Metaspace(string scheme, bool split) =>
        Type("Metaspace", ("replacement", "\u2581"), ("prepend_scheme", scheme), ("split", split));

    private static JsonObject Split(JsonObject pattern, string behavior, bool invert) =>
        Type("Split", ("pattern", pattern), ("behavior", behavior), ("invert", invert));

    /// <summary>A tokenizer.json, the texts encoded with it, and whether special tokens are added (with the row length).</summary>
    public sealed record EncodeCase(string Name, string File, string[] Texts, bool Special, int? RowLength = null, string? PadToken = null);

    public sealed record Results(
        string Directory,
        IReadOnlyDictionary<string, string[]> Normalized,
        IReadOnlyDictionary<string, string[][]> PreTokenized,
        IReadOnlyDictionary<string, (EncodeCase Case, int[][] Ids)> Encoded,
        JsonElement SentencePiece);

    private static readonly Lazy<Results> Cached = new(Run);

    public static Results Get() => Cached.Value;

    public static IEnumerable<string> EncodeCaseNames => BuildEncodeCases(null).Select(c => c.Name);

    private static Results Run()
    {
        var dir = Directory.CreateTempSubdirectory("sd3mesh-tokenizer-peer-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(dir, true); } catch (IOException) { } };

        // A SentencePiece model trained with nmt_nfkc: its tokenizer.json carries a real Precompiled charsmap.
        var spm = JsonDocument.Parse(Onnx.Tests.Python.Run("SentencePieceReference.py", dir, JsonSerializer.Serialize(Texts))).RootElement.Clone();

        var cases = BuildEncodeCases(dir);
        var request = new JsonObject
        {
            ["encode"] = new JsonArray(cases.Select(c => (JsonNode)new JsonObject
            {
                ["file"] = c.File, ["texts"] = new JsonArray(c.Texts.Select(t => (JsonNode)t).ToArray()), ["special"] = c.Special,
            }).ToArray()),
            ["normalize"] = new JsonArray(Normalizers.Select(n => (JsonNode)new JsonObject
            {
                ["normalizer"] = n.Normalizer.DeepClone(), ["texts"] = TextArray(Texts),
            }).Concat(UnicodeSweeps().Select(s => (JsonNode)new JsonObject
            {
                ["normalizer"] = Type(s.Type), ["texts"] = TextArray([s.Text]),
            })).ToArray()),
            ["pretokenize"] = new JsonArray(PreTokenizers.Select(p => (JsonNode)new JsonObject
            {
                ["pre_tokenizer"] = p.PreTokenizer.DeepClone(), ["texts"] = TextArray(Texts),
            }).ToArray()),
        };
        var response = HfTokenizersPeer.Run(request);

        var normalized = new Dictionary<string, string[]>();
        var normalizeResults = response["normalize"]!.AsArray();
        for (int i = 0; i < Normalizers.Length; i++) normalized[Normalizers[i].Name] = Strings(normalizeResults[i]!);
        var sweeps = UnicodeSweeps().ToList();
        for (int i = 0; i < sweeps.Count; i++) normalized["sweep " + sweeps[i].Type] = Strings(normalizeResults[Normalizers.Length + i]!);

        var preTokenized = new Dictionary<string, string[][]>();
        var preResults = response["pretokenize"]!.AsArray();
        for (int i = 0; i < PreTokenizers.Length; i++)
            preTokenized[PreTokenizers[i].Name] = preResults[i]!.AsArray().Select(Strings).ToArray();

        var encoded = new Dictionary<string, (EncodeCase, int[][])>();
        var encodeResults = response["encode"]!.AsArray();
        for (int i = 0; i < cases.Count; i++)
            encoded[cases[i].Name] = (cases[i], encodeResults[i]!.AsArray().Select(a => HfTokenizersPeer.Ids(a!)).ToArray());
        return new Results(dir, normalized, preTokenized, encoded, spm);
    }

    private static JsonArray TextArray(IEnumerable<string> texts) => new(texts.Select(t => (JsonNode)t).ToArray());
    private static string[] Strings(JsonNode? n) => n!.AsArray().Select(x => x!.GetValue<string>()).ToArray();

    /// <summary>
    /// Every code point of planes 0-2 followed by a space (so each normalizes on its own), through each Unicode
    /// form and Lowercase: the whole of both tables, checked in one string each.
    /// </summary>
    public static IEnumerable<(string Type, string Text)> UnicodeSweeps()
    {
        var sb = new StringBuilder(0x30000 * 3);
        for (int c = 0; c < 0x30000; c++)
        {
            if (c is >= 0xD800 and < 0xE000) continue;
            sb.Append(char.ConvertFromUtf32(c)).Append(' ');
        }
        var all = sb.ToString();
        foreach (var t in new[] { "NFC", "NFD", "NFKC", "NFKD", "Lowercase" }) yield return (t, all);
    }

    /// <summary>The tokenizer.json files (written into <paramref name="dir"/> when given) and their texts.</summary>
    private static List<EncodeCase> BuildEncodeCases(string? dir)
    {
        var cases = new List<EncodeCase>();
        void Add(string name, Func<JsonObject> tokenizer, string[] texts, bool special = false, int? row = null, string? pad = null) =>
            cases.Add(new EncodeCase(name, dir is null ? "" : Write(dir, $"case{cases.Count}", tokenizer()), texts, special, row, pad));

        // T5-shaped Unigram pipelines, one per normalizer, then per pre-tokenizer.
        var metaspace = Metaspace("always", true);
        foreach (var (name, normalizer) in Normalizers)
            Add($"Unigram with {name}", () => Tokenizer(T5Unigram(), normalizer.DeepClone(), metaspace.DeepClone(), T5Template(), T5Specials()), Texts, special: true);
        foreach (var (name, pre) in PreTokenizers.Where(p => !p.Name.Contains("ByteLevel") && !p.Name.StartsWith("CLIP")))
            Add($"Unigram with {name}", () => Tokenizer(T5Unigram(), null, pre.DeepClone(), T5Template(), T5Specials()), Texts, special: true);
        Add("Unigram with SD3's tokenizer_3 pipeline (Precompiled nmt_nfkc, Replace, Metaspace)", () =>
        {
            var trained = JsonNode.Parse(File.ReadAllText(Path.Combine(dir!, "json", "tokenizer.json")))!.AsObject();
            trained["post_processor"] = T5Template();
            return trained;
        }, Texts, special: true);
        Add("Unigram with Precompiled nmt_nfkc only", () =>
        {
            var trained = JsonNode.Parse(File.ReadAllText(Path.Combine(dir!, "json", "tokenizer.json")))!.AsObject();
            trained["normalizer"] = trained["normalizer"]!["normalizers"]![0]!.DeepClone();
            trained["pre_tokenizer"] = Type("Sequence", ("pretokenizers", Array(Type("WhitespaceSplit"), Metaspace("always", true))));
            return trained;
        }, Texts);
        Add("Unigram row of 8 (truncated, </s>, padded)", () => Tokenizer(T5Unigram(), null, metaspace.DeepClone(), T5Template(), T5Specials(),
            Truncation(8), Padding(8, 0, "<pad>")), Texts, special: true, row: 8, pad: "<pad>");

        // Byte-level BPE pipelines: ByteLevel variants, added tokens with every flag.
        foreach (var (name, pre) in PreTokenizers.Where(p => p.Name.Contains("ByteLevel") || p.Name.StartsWith("CLIP")))
            Add($"BPE with {name}", () => Tokenizer(SmallByteLevelBpe(), Type("Lowercase"), pre.DeepClone()), ClipTexts);
        string[] addedTexts = ["cat cats bobcat cat.", "x <L> y<L>z  <L>", "y <R> z <R>  w", "HELLO hello Hello", "<B>  <B>x", "wow <L><R> cat", ""];
        Add("BPE with added tokens (single_word, lstrip, rstrip, normalized, special)", () => Tokenizer(SmallByteLevelBpe(), Type("Lowercase"),
            Type("ByteLevel", ("add_prefix_space", true), ("trim_offsets", true), ("use_regex", true)), null,
            Array(Added(600, "cat", false, false, singleWord: true), Added(601, "<L>", true, false, lstrip: true), Added(602, "<R>", false, false, rstrip: true),
                Added(603, "Hello", false, true), Added(604, "<B>", true, false, lstrip: true, rstrip: true))), addedTexts);

        // OpenAI's CLIP BPE with transformers 5's CLIPTokenizer pipeline: SD3's tokenizer (pad <|endoftext|>)
        // and tokenizer_2 (pad "!", an added special token), rows of 77 as diffusers asks for them.
        var clip = new Lazy<JsonObject>(ClipBpe);
        var clipSpecials = Array(Added(49406, "<|startoftext|>", true, false), Added(49407, "<|endoftext|>", true, false));
        Add("CLIP-L row of 77", () => Tokenizer(clip.Value.DeepClone(), ClipNormalizer(), ClipPreTokenizer(), Roberta(), clipSpecials.DeepClone().AsArray(),
            Truncation(77), Padding(77, 49407, "<|endoftext|>")), ClipTexts, special: true, row: 77, pad: "<|endoftext|>");
        Add("CLIP-G row of 77 (pad \"!\" added)", () => Tokenizer(clip.Value.DeepClone(), ClipNormalizer(), ClipPreTokenizer(), Roberta(),
            Array(Added(0, "!", true, false), Added(49406, "<|startoftext|>", true, false), Added(49407, "<|endoftext|>", true, false)),
            Truncation(77), Padding(77, 0, "!")), ClipTexts, special: true, row: 77, pad: "!");
        Add("CLIP pipeline with normalized special tokens (SD3's published flags)", () => Tokenizer(SmallByteLevelBpe(), ClipNormalizer(), ClipPreTokenizer(),
            Roberta(523, 524), Array(Added(0, "!", true, false), Added(523, "<|startoftext|>", true, true), Added(524, "<|endoftext|>", true, true))), ClipTexts, special: true);
        return cases;
    }
}
