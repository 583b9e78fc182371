using System.Text;
using System.Text.Json;

namespace Sd3Mesh.Pipeline.Tokenizers;

/// <summary>
/// T5's SentencePiece Unigram tokenizer (SD3's tokenizer_3), loaded from a Hugging Face folder:
/// tokenizer.json (model type Unigram: the T5TokenizerFast form) or, when absent, spiece.model
/// (SentencePiece's ModelProto: the slow T5Tokenizer form, extra ids appended as T5 numbers them).
/// <see cref="Encode"/> returns the row diffusers builds: the pieces of the text, truncated to
/// max_sequence_length - 1, then &lt;/s&gt;, then &lt;pad&gt; up to max_sequence_length.
/// Special tokens written in the text (&lt;/s&gt;, &lt;extra_id_0&gt;, ...) are split off first and kept whole.
/// Whitespace follows SentencePiece (leading/trailing spaces dropped); Hugging Face's fast tokenizer
/// differs only for text that starts or ends with spaces.
/// </summary>
public sealed class T5Tokenizer
{
    public const int DefaultMaxLength = 256;
    public const int MaxSupportedLength = 512;

    private readonly UnigramModel _model;
    private readonly SentencePieceNormalizer _normalizer;
    private readonly Dictionary<string, int> _specialTokens;
    private readonly string[] _specialTokenOrder;

    public T5Tokenizer(UnigramModel model, SentencePieceNormalizer normalizer, IReadOnlyDictionary<string, int> specialTokens,
        int eosId, int padId)
    {
        _model = model;
        _normalizer = normalizer;
        _specialTokens = new Dictionary<string, int>(specialTokens, StringComparer.Ordinal);
        _specialTokenOrder = _specialTokens.Keys.OrderByDescending(k => k.Length).ToArray();
        EosId = eosId;
        PadId = padId;
    }

    public int EosId { get; }
    public int PadId { get; }
    public int UnkId => _model.UnkId;
    public int VocabularySize => Math.Max(_model.Count, _specialTokens.Count == 0 ? 0 : _specialTokens.Values.Max() + 1);
    public SentencePieceNormalizer Normalizer => _normalizer;

    public static T5Tokenizer Load(string dir)
    {
        var json = Path.Combine(dir, "tokenizer.json");
        if (File.Exists(json)) return FromTokenizerJson(json, TokenizerConfig.Load(dir));
        var spm = Path.Combine(dir, "spiece.model");
        if (File.Exists(spm)) return FromSentencePiece(SentencePieceModelFile.Read(spm), TokenizerConfig.Load(dir), ReadExtraIds(dir));
        throw new FileNotFoundException($"'{dir}' is not a T5 tokenizer folder: tokenizer.json or spiece.model is needed");
    }

    /// <summary>Piece ids of <paramref name="text"/> (no &lt;/s&gt;).</summary>
    public List<int> TokenIds(string text)
    {
        var ids = new List<int>();
        foreach (var (segment, specialId) in SplitOnSpecialTokens(text))
        {
            if (specialId >= 0) { ids.Add(specialId); continue; }
            var normalized = _normalizer.Normalize(Encoding.UTF8.GetBytes(segment));
            if (normalized.Length > 0) ids.AddRange(_model.Encode(normalized));
        }
        return ids;
    }

    /// <summary>The model row of <paramref name="maxLength"/> ids: pieces (truncated), &lt;/s&gt;, padding.</summary>
    public TokenizedText Encode(string text, int maxLength = DefaultMaxLength)
    {
        if (maxLength < 1) throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "max_sequence_length must be at least 1");
        var ids = TokenIds(text);
        int keep = Math.Min(ids.Count, maxLength - 1);
        var row = new long[maxLength];
        for (int i = 0; i < keep; i++) row[i] = ids[i];
        row[keep] = EosId;
        for (int i = keep + 1; i < maxLength; i++) row[i] = PadId;
        return new TokenizedText(row, keep + 1, keep < ids.Count ? Decode(ids.Skip(keep)) : "");
    }

    /// <summary>Ids back to text: pieces joined, "▁" read as a space, the leading space dropped.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        var sb = new StringBuilder();
        foreach (var id in ids)
        {
            if (id >= 0 && id < _model.Count) sb.Append(_model[id].Piece);
            else if (_specialTokens.FirstOrDefault(kv => kv.Value == id).Key is { } special) sb.Append(special);
        }
        var text = sb.Replace(SentencePieceNormalizer.SpaceSymbol, " ").ToString();
        return text.StartsWith(' ') ? text[1..] : text;
    }

    public string PieceOf(int id) => _model[id].Piece;

    private IEnumerable<(string Segment, int SpecialId)> SplitOnSpecialTokens(string text)
    {
        int start = 0, segmentStart = 0;
        while (start < text.Length)
        {
            string? hit = null;
            if (text[start] == '<')
                foreach (var s in _specialTokenOrder)
                    if (string.CompareOrdinal(text, start, s, 0, s.Length) == 0) { hit = s; break; }
            if (hit is null) { start++; continue; }
            if (start > segmentStart) yield return (text[segmentStart..start], -1);
            yield return (hit, _specialTokens[hit]);
            start += hit.Length;
            segmentStart = start;
        }
        if (segmentStart < text.Length) yield return (text[segmentStart..], -1);
    }

    // ---- loading ----

    public static T5Tokenizer FromSentencePiece(SentencePieceModelFile spm, TokenizerConfig config, int extraIds)
    {
        if (spm.ModelType != 1) throw new InvalidDataException($"spiece.model has model_type {spm.ModelType}; only Unigram (1) is supported");
        if (spm.TreatWhitespaceAsSuffix) throw new InvalidDataException("spiece.model sets treat_whitespace_as_suffix, which T5 never does; not supported");
        int unk = spm.Pieces.FindIndex(p => p.Type == PieceType.Unknown);
        if (unk < 0) throw new InvalidDataException("spiece.model has no UNKNOWN piece");
        var model = new UnigramModel(spm.Pieces, unk);
        var normalizer = new SentencePieceNormalizer(spm.PrecompiledCharsMap, spm.AddDummyPrefix, spm.RemoveExtraWhitespaces,
            spm.EscapeWhitespaces, spm.Pieces.Where(p => p.Type == PieceType.UserDefined).Select(p => p.Piece));

        var specials = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int id = 0; id < spm.Pieces.Count; id++)
            if (spm.Pieces[id].Type is PieceType.Control or PieceType.Unknown) specials.TryAdd(spm.Pieces[id].Piece, id);
        // T5Tokenizer numbers extra ids from the end: <extra_id_0> is the last id.
        int size = spm.Pieces.Count + extraIds;
        for (int i = 0; i < extraIds; i++) specials.TryAdd($"<extra_id_{i}>", size - 1 - i);
        return Create(model, normalizer, specials, config);
    }

    public static T5Tokenizer FromTokenizerJson(string path, TokenizerConfig config)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = doc.RootElement;
        if (!root.TryGetProperty("model", out var m) || m.GetProperty("type").GetString() != "Unigram")
            throw new InvalidDataException($"{path}: model type is not Unigram (T5 uses a SentencePiece Unigram model)");
        if (m.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True)
            throw new InvalidDataException($"{path}: byte_fallback Unigram models are not supported");

        var specials = new Dictionary<string, int>(StringComparer.Ordinal);
        if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
            foreach (var t in added.EnumerateArray())
                specials.TryAdd(t.GetProperty("content").GetString()!, t.GetProperty("id").GetInt32());

        var pieces = new List<UnigramPiece>();
        foreach (var entry in m.GetProperty("vocab").EnumerateArray())
        {
            var piece = entry[0].GetString()!;
            float score = (float)entry[1].GetDouble();
            bool special = specials.TryGetValue(piece, out int sid) && sid == pieces.Count;
            pieces.Add(new UnigramPiece(piece, score, special ? PieceType.Control : PieceType.Normal));
        }
        int unk = m.TryGetProperty("unk_id", out var u) && u.ValueKind == JsonValueKind.Number ? u.GetInt32() : -1;
        if (unk < 0) throw new InvalidDataException($"{path}: the Unigram model has no unk_id");
        pieces[unk] = pieces[unk] with { Type = PieceType.Unknown };
        specials.TryAdd(pieces[unk].Piece, unk);

        byte[]? charsMap = null;
        if (root.TryGetProperty("normalizer", out var n)) charsMap = ReadNormalizer(n, path);
        bool prefix = true;
        if (root.TryGetProperty("pre_tokenizer", out var pre)) prefix = ReadDummyPrefix(pre) ?? true;

        var normalizer = new SentencePieceNormalizer(charsMap, addDummyPrefix: prefix);
        return Create(new UnigramModel(pieces, unk), normalizer, specials, config);
    }

    private static T5Tokenizer Create(UnigramModel model, SentencePieceNormalizer normalizer, Dictionary<string, int> specials, TokenizerConfig config)
    {
        int Resolve(string key, string fallback)
        {
            var token = config.Get(key) ?? fallback;
            if (specials.TryGetValue(token, out int id)) return id;
            return model.IdOf(token) ?? throw new InvalidDataException($"{key} '{token}' is not in the T5 vocabulary");
        }
        return new T5Tokenizer(model, normalizer, specials, Resolve("eos_token", "</s>"), Resolve("pad_token", "<pad>"));
    }

    /// <summary>The precompiled charsmap of a normalizer (searching Sequences); other steps must be whitespace-only.</summary>
    private static byte[]? ReadNormalizer(JsonElement n, string path)
    {
        if (n.ValueKind == JsonValueKind.Null) return null;
        var type = n.GetProperty("type").GetString();
        switch (type)
        {
            case "Sequence":
                byte[]? found = null;
                foreach (var child in n.GetProperty("normalizers").EnumerateArray()) found ??= ReadNormalizer(child, path);
                return found;
            case "Precompiled":
                return n.TryGetProperty("precompiled_charsmap", out var c) && c.ValueKind == JsonValueKind.String
                    ? Convert.FromBase64String(c.GetString()!) : null;
            case "Replace":
                // T5's " {2,}" -> " " collapse is part of SentencePiece's remove_extra_whitespaces.
                var pattern = n.GetProperty("pattern");
                var text = pattern.TryGetProperty("Regex", out var r) ? r.GetString() : pattern.TryGetProperty("String", out var s) ? s.GetString() : null;
                if (text is " {2,}" or "  " && n.GetProperty("content").GetString() == " ") return null;
                throw new InvalidDataException($"{path}: normalizer Replace '{text}' is not supported (only T5's space collapse)");
            case "Strip":
                return null; // SentencePiece strips leading/trailing whitespace anyway
            default:
                throw new InvalidDataException($"{path}: normalizer type '{type}' is not supported for T5 (Precompiled, Replace of spaces, Sequence)");
        }
    }

    private static bool? ReadDummyPrefix(JsonElement pre)
    {
        if (pre.ValueKind != JsonValueKind.Object) return null;
        var type = pre.GetProperty("type").GetString();
        if (type == "Sequence")
        {
            foreach (var child in pre.GetProperty("pretokenizers").EnumerateArray())
                if (ReadDummyPrefix(child) is { } v) return v;
            return null;
        }
        if (type != "Metaspace") return null;
        if (pre.TryGetProperty("prepend_scheme", out var scheme)) return scheme.GetString() != "never";
        if (pre.TryGetProperty("add_prefix_space", out var add)) return add.GetBoolean();
        return true;
    }

    private static int ReadExtraIds(string dir)
    {
        var path = Path.Combine(dir, "tokenizer_config.json");
        if (!File.Exists(path)) return 100;
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        return doc.RootElement.TryGetProperty("extra_ids", out var e) && e.ValueKind == JsonValueKind.Number ? e.GetInt32() : 100;
    }
}
