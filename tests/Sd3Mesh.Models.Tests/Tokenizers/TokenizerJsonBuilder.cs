using System.Text.Json.Nodes;
using Sd3Mesh.Models.Tokenizers;

namespace Sd3Mesh.Models.Tests.Tokenizers;

/// <summary>tokenizer.json files for the tests, in the tokenizers library's serialization.</summary>
public static class TokenizerJsonBuilder
{
    public static JsonObject Tokenizer(JsonNode model, JsonNode? normalizer = null, JsonNode? preTokenizer = null, JsonNode? postProcessor = null,
        JsonArray? addedTokens = null, JsonNode? truncation = null, JsonNode? padding = null) => new()
    {
        ["version"] = "1.0",
        ["truncation"] = truncation,
        ["padding"] = padding,
        ["added_tokens"] = addedTokens ?? [],
        ["normalizer"] = normalizer,
        ["pre_tokenizer"] = preTokenizer,
        ["post_processor"] = postProcessor,
        ["decoder"] = null,
        ["model"] = model,
    };

    public static string Write(string dir, string name, JsonObject tokenizer)
    {
        var path = Path.Combine(dir, name + ".json");
        File.WriteAllText(path, tokenizer.ToJsonString());
        return path;
    }

    public static JsonObject Type(string type, params (string Key, JsonNode? Value)[] fields)
    {
        var o = new JsonObject { ["type"] = type };
        foreach (var (k, v) in fields) o[k] = v;
        return o;
    }

    public static JsonObject Regex(string pattern) => new() { ["Regex"] = pattern };
    public static JsonObject Literal(string pattern) => new() { ["String"] = pattern };
    public static JsonArray Array(params JsonNode?[] items) => new(items);

    public static JsonObject Added(int id, string content, bool special, bool normalized, bool singleWord = false, bool lstrip = false, bool rstrip = false) => new()
    {
        ["id"] = id, ["content"] = content, ["single_word"] = singleWord, ["lstrip"] = lstrip, ["rstrip"] = rstrip,
        ["normalized"] = normalized, ["special"] = special,
    };

    /// <summary>The synthetic T5 Unigram vocabulary (&lt;pad&gt; 0, &lt;/s&gt; 1, &lt;unk&gt; 2, sentinels last).</summary>
    public static JsonObject T5Unigram()
    {
        var vocab = new JsonArray();
        foreach (var (piece, score) in SyntheticT5Vocabulary.Build().Pieces) vocab.Add(new JsonArray(piece, score));
        return new JsonObject { ["type"] = "Unigram", ["unk_id"] = 2, ["vocab"] = vocab, ["byte_fallback"] = false };
    }

    public static JsonArray T5Specials() => Array(Added(0, "<pad>", true, false), Added(1, "</s>", true, false), Added(2, "<unk>", true, false));

    public static JsonObject T5Template() => Template("$A", "</s>", 1);

    public static JsonObject Template(string first, string second, int secondId)
    {
        JsonObject Piece(string p) => p.StartsWith('$')
            ? new JsonObject { ["Sequence"] = new JsonObject { ["id"] = p[1..], ["type_id"] = 0 } }
            : new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = p, ["type_id"] = 0 } };
        return new JsonObject
        {
            ["type"] = "TemplateProcessing",
            ["single"] = Array(Piece(first), Piece(second)),
            ["pair"] = Array(Piece(first), Piece(second)),
            ["special_tokens"] = new JsonObject { [second] = new JsonObject { ["id"] = second, ["ids"] = Array(secondId), ["tokens"] = Array(second) } },
        };
    }

    /// <summary>OpenAI's CLIP BPE (49408 tokens) as transformers 5's CLIPTokenizer builds its model.</summary>
    public static JsonObject ClipBpe()
    {
        var clip = ClipVocabulary.Load();
        var vocab = new JsonObject();
        for (int i = 0; i < clip.Tokens.Count; i++) vocab[clip.Tokens[i]] = i;
        var merges = new JsonArray();
        foreach (var (l, r) in clip.Merges) merges.Add(Array(l, r));
        return Bpe(vocab, merges);
    }

    /// <summary>A small byte-level BPE: the 256 byte characters, with and without "&lt;/w&gt;", a few merges, CLIP's specials.</summary>
    public static JsonObject SmallByteLevelBpe()
    {
        var tokens = new List<string>();
        foreach (var b in ByteLevelAlphabet.Order) tokens.Add(ByteLevelAlphabet.ToChar(b).ToString());
        tokens.AddRange(tokens.ToList().Select(t => t + "</w>"));
        (string, string)[] merges = [("w", "o"), ("wo", "w</w>"), ("c", "a"), ("ca", "t</w>"), ("Ġ", "c"), ("Ġc", "a"), ("Ġca", "t</w>"), ("h", "e"), ("he", "l"), ("hel", "l"), ("hell", "o</w>")];
        foreach (var (l, r) in merges) tokens.Add(l + r);
        tokens.AddRange(["<|startoftext|>", "<|endoftext|>"]);
        var vocab = new JsonObject();
        for (int i = 0; i < tokens.Count; i++) vocab[tokens[i]] = i;
        return Bpe(vocab, new JsonArray(merges.Select(m => (JsonNode)Array(m.Item1, m.Item2)).ToArray()));
    }

    private static JsonObject Bpe(JsonObject vocab, JsonArray merges) => new()
    {
        ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = "<|endoftext|>", ["continuing_subword_prefix"] = "",
        ["end_of_word_suffix"] = "</w>", ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = false,
        ["vocab"] = vocab, ["merges"] = merges,
    };

    /// <summary>transformers 5's CLIPTokenizer normalizer: NFC, whitespace runs to one space, lower case.</summary>
    public static JsonObject ClipNormalizer() => Type("Sequence", ("normalizers", Array(Type("NFC"),
        Type("Replace", ("pattern", Regex(@"\s+")), ("content", " ")), Type("Lowercase"))));

    /// <summary>transformers 5's CLIPTokenizer pre-tokenizer: CLIP's word pattern (removed, inverted), then ByteLevel.</summary>
    public static JsonObject ClipPreTokenizer() => Type("Sequence", ("pretokenizers", Array(
        Type("Split", ("pattern", Regex(TokenizerFolder.ClipWordPattern)), ("behavior", "Removed"), ("invert", true)),
        Type("ByteLevel", ("add_prefix_space", false), ("trim_offsets", true), ("use_regex", true)))));

    public static JsonObject Roberta(int clsId = 49406, int sepId = 49407) => new()
    {
        ["type"] = "RobertaProcessing", ["sep"] = Array("<|endoftext|>", sepId), ["cls"] = Array("<|startoftext|>", clsId),
        ["trim_offsets"] = false, ["add_prefix_space"] = false,
    };

    /// <summary>What transformers' call sets (truncation=True, padding="max_length", max_length=n).</summary>
    public static JsonObject Truncation(int maxLength) => new()
    {
        ["direction"] = "Right", ["max_length"] = maxLength, ["strategy"] = "LongestFirst", ["stride"] = 0,
    };

    public static JsonObject Padding(int length, int padId, string padToken) => new()
    {
        ["strategy"] = new JsonObject { ["Fixed"] = length }, ["direction"] = "Right", ["pad_to_multiple_of"] = null,
        ["pad_id"] = padId, ["pad_type_id"] = 0, ["pad_token"] = padToken,
    };
}
