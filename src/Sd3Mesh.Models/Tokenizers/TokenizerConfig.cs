using System.Text.Json;

namespace Sd3Mesh.Models.Tokenizers;

/// <summary>
/// What transformers reads from a tokenizer folder besides the pipeline: tokenizer_config.json and
/// special_tokens_map.json (the latter wins, as in transformers). Named special tokens (bos_token, eos_token,
/// unk_token, pad_token, ...) and additional/extra special tokens may be strings or AddedToken objects;
/// added_tokens_decoder lists added tokens by id with their flags.
/// </summary>
public sealed class TokenizerConfig
{
    public static readonly IReadOnlyList<string> SpecialTokenKeys =
        ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

    private readonly Dictionary<string, AddedToken> _named = new(StringComparer.Ordinal);
    private readonly List<AddedToken> _additional = [];
    private readonly SortedDictionary<int, AddedToken> _decoder = new();

    /// <summary>model_max_length, or null when absent or a "very large" sentinel (transformers writes 1e30).</summary>
    public int? ModelMaxLength { get; private set; }
    public int? ExtraIds { get; private set; }
    public string? TokenizerClass { get; private set; }

    public string? Get(string key) => _named.TryGetValue(key, out var t) ? t.Content : null;
    public AddedToken? Named(string key) => _named.GetValueOrDefault(key);
    public IReadOnlyList<AddedToken> Additional => _additional;
    public IReadOnlyDictionary<int, AddedToken> AddedTokensDecoder => _decoder;

    public static TokenizerConfig Load(string dir)
    {
        var config = new TokenizerConfig();
        config.Read(Path.Combine(dir, "tokenizer_config.json"));
        config.Read(Path.Combine(dir, "special_tokens_map.json"));
        return config;
    }

    private void Read(string path)
    {
        if (!File.Exists(path)) return;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path} is not a JSON object");
            foreach (var p in doc.RootElement.EnumerateObject()) ReadProperty(p);
        }
        catch (JsonException e) { throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e); }
        catch (Exception e) when (e is InvalidOperationException or FormatException or KeyNotFoundException or InvalidDataException)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    private void ReadProperty(JsonProperty p)
    {
        var v = p.Value;
        switch (p.Name)
        {
            case "model_max_length" when v.ValueKind == JsonValueKind.Number:
                double max = v.GetDouble();
                ModelMaxLength = max is >= 1 and <= int.MaxValue ? (int)max : null;
                return;
            case "extra_ids" when v.ValueKind == JsonValueKind.Number:
                ExtraIds = v.GetInt32();
                return;
            case "tokenizer_class" when v.ValueKind == JsonValueKind.String:
                TokenizerClass = v.GetString();
                return;
            case "added_tokens_decoder" when v.ValueKind == JsonValueKind.Object:
                foreach (var e in v.EnumerateObject()) _decoder[int.Parse(e.Name)] = TokenizerJson.ReadAddedToken(e.Value, special: false);
                return;
            case "additional_special_tokens" or "extra_special_tokens":
                // A list of tokens (or, in transformers 4's extra_special_tokens, a map of named ones).
                var items = v.ValueKind switch
                {
                    JsonValueKind.Array => v.EnumerateArray().ToList(),
                    JsonValueKind.Object => v.EnumerateObject().Select(x => x.Value).ToList(),
                    _ => [],
                };
                foreach (var item in items)
                    if (Token(item) is { } t && !_additional.Any(a => a.Content == t.Content)) _additional.Add(t);
                return;
        }
        if (SpecialTokenKeys.Contains(p.Name) && Token(v) is { } token) _named[p.Name] = token;
    }

    private static AddedToken? Token(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => AddedToken.SpecialFromString(v.GetString()!),
        JsonValueKind.Object when v.TryGetProperty("content", out _) => TokenizerJson.ReadAddedToken(v, special: true) with { Special = true },
        _ => null,
    };
}
