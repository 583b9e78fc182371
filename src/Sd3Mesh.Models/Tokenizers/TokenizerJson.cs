using System.Text.Json;

namespace Sd3Mesh.Models.Tokenizers;

/// <summary>
/// A Hugging Face tokenizer.json (the tokenizers library's serialization), its parts read into pipeline
/// components when asked for (transformers' CLIP and T5 classes take only the vocabulary from it, so an
/// unsupported normalizer there is no obstacle). Supported: normalizers NFC, NFD, NFKC, NFKD, Lowercase,
/// Strip, StripAccents, Replace, Prepend, Precompiled, Sequence; pre-tokenizers Metaspace, WhitespaceSplit,
/// ByteLevel, Split, Sequence; models BPE and Unigram; post-processors TemplateProcessing, RobertaProcessing,
/// BertProcessing, ByteLevel, Sequence. Anything else is refused with the file and the component named.
/// "truncation", "padding" and "decoder" are not read: transformers' call sets truncation and padding, and
/// decoding is only used for messages.
/// </summary>
public sealed class TokenizerJson
{
    public const string FileName = "tokenizer.json";

    private readonly JsonElement _root;
    private readonly Lazy<ITokenModel> _model;
    private readonly Lazy<INormalizer?> _normalizer;
    private readonly Lazy<IPreTokenizer?> _preTokenizer;
    private readonly Lazy<IPostProcessor?> _postProcessor;

    private TokenizerJson(JsonElement root, string path)
    {
        _root = root;
        Path = path;
        if (!root.TryGetProperty("model", out var m) || m.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{path} has no \"model\"");
        _model = new(() => Guard(() => ReadModel(m, path)));
        _normalizer = new(() => Get(root, "normalizer") is { } n ? Guard(() => ReadNormalizer(n, path)) : null);
        _preTokenizer = new(() => Get(root, "pre_tokenizer") is { } p ? Guard(() => ReadPreTokenizer(p, path)) : null);
        _postProcessor = new(() => Get(root, "post_processor") is { } pp ? Guard(() => ReadPostProcessor(pp, path)) : null);
        var added = new List<AddedToken>();
        if (Get(root, "added_tokens") is { ValueKind: JsonValueKind.Array } list)
            foreach (var t in list.EnumerateArray().OrderBy(t => t.TryGetProperty("id", out var id) ? id.GetInt32() : 0))
                added.Add(Guard(() => ReadAddedToken(t, special: false)));
        AddedTokens = added;
    }

    public string Path { get; }
    public ITokenModel Model => _model.Value;
    public INormalizer? Normalizer => _normalizer.Value;
    public IPreTokenizer? PreTokenizer => _preTokenizer.Value;
    public IPostProcessor? PostProcessor => _postProcessor.Value;
    public IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>The model's type ("BPE", "Unigram", ...), as tokenizers infers it when the file omits it.</summary>
    public string ModelType => ModelTypeOf(_root.GetProperty("model"));

    /// <summary>A BPE model's vocabulary and merges, without building the model (transformers' classes build their own).</summary>
    public (Dictionary<string, int> Vocabulary, List<(string, string)> Merges) ReadBpe()
    {
        if (ModelType != "BPE") throw new InvalidDataException($"{Path}: model type '{ModelType}' is not BPE, which CLIPTokenizer needs");
        var m = _root.GetProperty("model");
        return Guard(() => (ReadBpeVocab(m, Path), ReadMerges(m, Path)));
    }

    /// <summary>A Unigram model's pieces, without building the model.</summary>
    public List<UnigramPiece> ReadUnigram()
    {
        if (ModelType != "Unigram") throw new InvalidDataException($"{Path}: model type '{ModelType}' is not Unigram, which T5Tokenizer needs");
        return Guard(() => ReadUnigramVocab(_root.GetProperty("model"), Path));
    }

    /// <summary>The charsmap of a Precompiled normalizer (alone or in a Sequence), without reading the other normalizers.</summary>
    public byte[]? PrecompiledCharsMap
    {
        get
        {
            if (Get(_root, "normalizer") is not { } n) return null;
            var candidates = Text(n, "type") == "Sequence" && Get(n, "normalizers") is { ValueKind: JsonValueKind.Array } items ? items.EnumerateArray().ToList() : [n];
            var map = candidates.Where(c => Text(c, "type") == "Precompiled").Select(c => Text(c, "precompiled_charsmap")).FirstOrDefault(c => !string.IsNullOrEmpty(c));
            return map is null ? null : Guard(() => Convert.FromBase64String(map));
        }
    }

    public static TokenizerJson Read(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            return new TokenizerJson(doc.RootElement.Clone(), path);
        }
        catch (JsonException e) { throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e); }
    }

    private T Guard<T>(Func<T> read)
    {
        try { return read(); }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{Path}: {e.Message}", e);
        }
    }

    private static JsonElement? Get(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined) ? v : null;

    private static bool Flag(JsonElement e, string name, bool fallback) =>
        e.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;

    private static string? Text(JsonElement e, string name) => Get(e, name) is { ValueKind: JsonValueKind.String } v ? v.GetString() : null;

    private static string TypeOf(JsonElement e, string path, string what) =>
        Text(e, "type") ?? throw new InvalidDataException($"{path}: a {what} has no \"type\"");

    /// <summary>An AddedToken object (tokenizer.json, or tokenizer_config.json's token entries).</summary>
    public static AddedToken ReadAddedToken(JsonElement t, bool special)
    {
        bool isSpecial = Flag(t, "special", special);
        return new AddedToken(Text(t, "content") ?? throw new InvalidDataException("an added token has no \"content\""),
            isSpecial, Flag(t, "normalized", !isSpecial), Flag(t, "single_word", false), Flag(t, "lstrip", false), Flag(t, "rstrip", false));
    }

    private static CodePointRegex ReadPattern(JsonElement parent, string path, string what)
    {
        var p = Get(parent, "pattern") ?? throw new InvalidDataException($"{path}: {what} has no \"pattern\"");
        if (Text(p, "String") is { } s) return new CodePointRegex(s, literal: true);
        if (Text(p, "Regex") is { } r) return new CodePointRegex(r);
        throw new InvalidDataException($"{path}: {what}'s pattern is neither {{\"String\": ...}} nor {{\"Regex\": ...}}");
    }

    public static INormalizer? ReadNormalizer(JsonElement n, string path)
    {
        var type = TypeOf(n, path, "normalizer");
        switch (type)
        {
            case "NFC": return new UnicodeFormNormalizer(UnicodeForm.Nfc);
            case "NFD": return new UnicodeFormNormalizer(UnicodeForm.Nfd);
            case "NFKC": return new UnicodeFormNormalizer(UnicodeForm.Nfkc);
            case "NFKD": return new UnicodeFormNormalizer(UnicodeForm.Nfkd);
            case "Lowercase": return new LowercaseNormalizer();
            case "StripAccents": return new StripAccentsNormalizer();
            case "Strip": return new StripNormalizer(Flag(n, "strip_left", true), Flag(n, "strip_right", true));
            case "Prepend": return new PrependNormalizer(Text(n, "prepend") ?? throw new InvalidDataException($"{path}: Prepend has no \"prepend\""));
            case "Replace": return new ReplaceNormalizer(ReadPattern(n, path, "Replace"), Text(n, "content") ?? "");
            case "Precompiled":
                var map = Text(n, "precompiled_charsmap");
                return string.IsNullOrEmpty(map) ? null : new PrecompiledNormalizer(Convert.FromBase64String(map));
            case "Sequence":
                var items = (Get(n, "normalizers") ?? throw new InvalidDataException($"{path}: Sequence has no \"normalizers\""))
                    .EnumerateArray().Select(x => ReadNormalizer(x, path)).OfType<INormalizer>().ToList();
                return new SequenceNormalizer(items);
            default:
                throw new InvalidDataException($"{path}: normalizer type '{type}' is not supported " +
                                               "(supported: NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend, Precompiled, Sequence)");
        }
    }

    public static IPreTokenizer ReadPreTokenizer(JsonElement p, string path)
    {
        var type = TypeOf(p, path, "pre_tokenizer");
        switch (type)
        {
            case "WhitespaceSplit": return new WhitespaceSplitPreTokenizer();
            case "Metaspace":
                var replacement = Text(p, "replacement") ?? "\u2581";
                if (replacement.EnumerateRunes().Count() != 1) throw new InvalidDataException($"{path}: Metaspace's replacement '{replacement}' is not one character");
                var scheme = Text(p, "prepend_scheme") switch
                {
                    null or "always" => PrependScheme.Always,
                    "first" => PrependScheme.First,
                    "never" => PrependScheme.Never,
                    var s => throw new InvalidDataException($"{path}: Metaspace's prepend_scheme '{s}' is not always, first or never"),
                };
                if (p.TryGetProperty("add_prefix_space", out var add) && add.ValueKind == JsonValueKind.False)
                {
                    if (Text(p, "prepend_scheme") is { } given && given != "never")
                        throw new InvalidDataException($"{path}: Metaspace's add_prefix_space false contradicts prepend_scheme '{given}'");
                    scheme = PrependScheme.Never;
                }
                return new MetaspacePreTokenizer(replacement.EnumerateRunes().First().Value, scheme, Flag(p, "split", true));
            case "ByteLevel": return new ByteLevelPreTokenizer(Flag(p, "add_prefix_space", true), Flag(p, "use_regex", true));
            case "Split":
                var behavior = Text(p, "behavior") is { } b && Enum.TryParse<SplitBehavior>(b, out var parsed) ? parsed
                    : throw new InvalidDataException($"{path}: Split's behavior '{Text(p, "behavior")}' is not Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous");
                return new SplitPreTokenizer(ReadPattern(p, path, "Split"), behavior, Flag(p, "invert", false));
            case "Sequence":
                var items = (Get(p, "pretokenizers") ?? throw new InvalidDataException($"{path}: Sequence has no \"pretokenizers\""))
                    .EnumerateArray().Select(x => ReadPreTokenizer(x, path)).ToList();
                return new SequencePreTokenizer(items);
            default:
                throw new InvalidDataException($"{path}: pre_tokenizer type '{type}' is not supported (supported: Metaspace, WhitespaceSplit, ByteLevel, Split, Sequence)");
        }
    }

    public static ITokenModel ReadModel(JsonElement m, string path)
    {
        var type = ModelTypeOf(m);
        switch (type)
        {
            case "BPE":
                return new BpeModel(ReadBpeVocab(m, path), ReadMerges(m, path), Text(m, "unk_token"), Text(m, "continuing_subword_prefix"),
                    Text(m, "end_of_word_suffix"), Flag(m, "fuse_unk", false), Flag(m, "byte_fallback", false), Flag(m, "ignore_merges", false));
            case "Unigram":
                return new UnigramModel(ReadUnigramVocab(m, path), Get(m, "unk_id")?.GetInt32(), Flag(m, "byte_fallback", false));
            default:
                throw new InvalidDataException($"{path}: model type '{type}' is not supported (supported: BPE, Unigram)");
        }
    }

    /// <summary>Old files omit the model's type; tokenizers then tells the models apart by their fields.</summary>
    private static string ModelTypeOf(JsonElement m) => Text(m, "type") ?? (m.TryGetProperty("merges", out _) ? "BPE"
        : Get(m, "vocab") is { ValueKind: JsonValueKind.Array } ? "Unigram" : "unknown");

    public static Dictionary<string, int> ReadBpeVocab(JsonElement m, string path)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        if (Get(m, "vocab") is not { ValueKind: JsonValueKind.Object } v) throw new InvalidDataException($"{path}: the BPE model has no vocab object");
        foreach (var p in v.EnumerateObject()) vocab[p.Name] = p.Value.GetInt32();
        return vocab;
    }

    public static List<(string, string)> ReadMerges(JsonElement m, string path)
    {
        var merges = new List<(string, string)>();
        if (Get(m, "merges") is not { ValueKind: JsonValueKind.Array } list) return merges;
        foreach (var e in list.EnumerateArray())
        {
            if (e.ValueKind == JsonValueKind.String)
            {
                var parts = e.GetString()!.Split(' ');
                if (parts.Length != 2) throw new InvalidDataException($"{path}: merge '{e.GetString()}' is not two symbols separated by a space");
                merges.Add((parts[0], parts[1]));
            }
            else if (e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 2) merges.Add((e[0].GetString()!, e[1].GetString()!));
            else throw new InvalidDataException($"{path}: a merge is neither \"a b\" nor [\"a\", \"b\"]");
        }
        return merges;
    }

    public static List<UnigramPiece> ReadUnigramVocab(JsonElement m, string path)
    {
        if (Get(m, "vocab") is not { ValueKind: JsonValueKind.Array } v) throw new InvalidDataException($"{path}: the Unigram model has no vocab list");
        return v.EnumerateArray().Select(e => new UnigramPiece(e[0].GetString()!, e[1].GetDouble())).ToList();
    }

    public static IPostProcessor ReadPostProcessor(JsonElement p, string path)
    {
        var type = TypeOf(p, path, "post_processor");
        switch (type)
        {
            case "TemplateProcessing": return ReadTemplate(p, path);
            case "RobertaProcessing" or "BertProcessing":
                return new ClsSepProcessor(TokenId(p, "cls", path, type), TokenId(p, "sep", path, type));
            case "ByteLevel": return new IdentityProcessor();
            case "Sequence":
                var items = (Get(p, "processors") ?? throw new InvalidDataException($"{path}: Sequence has no \"processors\""))
                    .EnumerateArray().Select(x => ReadPostProcessor(x, path)).ToList();
                return new SequenceProcessor(items);
            default:
                throw new InvalidDataException($"{path}: post_processor type '{type}' is not supported (supported: TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel, Sequence)");
        }
    }

    private static int TokenId(JsonElement p, string name, string path, string type) =>
        Get(p, name) is { ValueKind: JsonValueKind.Array } a && a.GetArrayLength() == 2 ? a[1].GetInt32()
            : throw new InvalidDataException($"{path}: {type} has no \"{name}\": [token, id]");

    /// <summary>The single-sequence template: structured pieces, or the string form ("$A:0 &lt;/s&gt;:0").</summary>
    private static TemplateProcessor ReadTemplate(JsonElement p, string path)
    {
        var specials = new Dictionary<string, int[]>(StringComparer.Ordinal);
        if (Get(p, "special_tokens") is { ValueKind: JsonValueKind.Object } map)
            foreach (var s in map.EnumerateObject())
                specials[s.Name] = s.Value.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray();

        var single = Get(p, "single") ?? throw new InvalidDataException($"{path}: TemplateProcessing has no \"single\" template");
        var pieces = new List<TemplatePiece>();
        var elements = single.ValueKind == JsonValueKind.String
            ? single.GetString()!.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => (Text: (string?)s, Element: default(JsonElement)))
            : single.EnumerateArray().Select(e => (Text: e.ValueKind == JsonValueKind.String ? e.GetString()! : null, Element: e));
        foreach (var (text, e) in elements)
        {
            if (text is not null)
            {
                var name = text.Contains(':') ? text[..text.LastIndexOf(':')] : text;
                pieces.Add(name.StartsWith('$') ? TemplatePiece.Sequence : new TemplatePiece(false, Special(name)));
            }
            else if (e.TryGetProperty("Sequence", out _)) pieces.Add(TemplatePiece.Sequence);
            else pieces.Add(new TemplatePiece(false, Special(e.GetProperty("SpecialToken").GetProperty("id").GetString()!)));
        }
        return new TemplateProcessor(pieces);

        int[] Special(string id) => specials.TryGetValue(id, out var ids) ? ids
            : throw new InvalidDataException($"{path}: TemplateProcessing uses special token '{id}' that its special_tokens do not define");
    }
}
