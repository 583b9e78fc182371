using System.Text.Json;

namespace Sd3Mesh.Pipeline.Tokenizers;

/// <summary>
/// The special tokens and maximum length of a Hugging Face tokenizer folder, read from
/// tokenizer_config.json and special_tokens_map.json (the latter wins, as in transformers). Token
/// entries may be plain strings or AddedToken objects ({"content": ...}).
/// </summary>
public sealed class TokenizerConfig
{
    private readonly Dictionary<string, string> _tokens = new(StringComparer.Ordinal);

    /// <summary>model_max_length, or null when absent or a "very large" sentinel (transformers writes 1e30).</summary>
    public int? ModelMaxLength { get; private set; }

    public string? Get(string key) => _tokens.GetValueOrDefault(key);

    public static TokenizerConfig Load(string dir)
    {
        var config = new TokenizerConfig();
        config.Read(Path.Combine(dir, "tokenizer_config.json"), readMaxLength: true);
        config.Read(Path.Combine(dir, "special_tokens_map.json"), readMaxLength: false);
        return config;
    }

    private void Read(string path, bool readMaxLength)
    {
        if (!File.Exists(path)) return;
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (readMaxLength && p.Name == "model_max_length" && p.Value.ValueKind == JsonValueKind.Number)
            {
                double v = p.Value.GetDouble();
                ModelMaxLength = v is >= 1 and <= int.MaxValue ? (int)v : null;
                continue;
            }
            if (!p.Name.EndsWith("_token", StringComparison.Ordinal)) continue;
            var token = p.Value.ValueKind switch
            {
                JsonValueKind.String => p.Value.GetString(),
                JsonValueKind.Object when p.Value.TryGetProperty("content", out var c) => c.GetString(),
                _ => null,
            };
            if (token is not null) _tokens[p.Name] = token;
        }
    }
}
