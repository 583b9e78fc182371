using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Sd3Mesh.Models.Tokenizers;

namespace Sd3Mesh.Pipeline.Tokenizers;

/// <summary>
/// CLIP's byte-level BPE tokenizer (transformers' CLIPTokenizer) loaded from a Hugging Face folder
/// (vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json). <see cref="Encode"/> gives
/// the row SD3 feeds its CLIP encoders: &lt;|startoftext|&gt;, at most MaxLength-2 tokens, &lt;|endoftext|&gt;,
/// then the folder's pad token (SD3: &lt;|endoftext|&gt; for tokenizer, "!" for tokenizer_2).
/// </summary>
public sealed class ClipTokenizer
{
    private readonly Dictionary<string, int> _vocab;
    private readonly string[] _idToToken;
    private readonly Dictionary<(string, string), int> _ranks;
    private readonly ConcurrentDictionary<string, string[]> _cache = new(StringComparer.Ordinal);
    private readonly string[] _specialTokens;

    public ClipTokenizer(IReadOnlyDictionary<string, int> vocab, IEnumerable<(string Left, string Right)> merges,
        string bosToken = ClipVocabulary.StartOfText, string eosToken = ClipVocabulary.EndOfText,
        string padToken = ClipVocabulary.EndOfText, string unkToken = ClipVocabulary.EndOfText, int maxLength = 77)
    {
        if (maxLength < 2) throw new ArgumentOutOfRangeException(nameof(maxLength), "CLIP rows need room for BOS and EOS");
        _vocab = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        _idToToken = new string[_vocab.Count == 0 ? 0 : _vocab.Values.Max() + 1];
        foreach (var (token, id) in _vocab) _idToToken[id] = token;
        _ranks = new Dictionary<(string, string), int>();
        int rank = 0;
        foreach (var m in merges) _ranks.TryAdd(m, rank++);
        BosId = Lookup(bosToken, "bos_token");
        EosId = Lookup(eosToken, "eos_token");
        PadId = Lookup(padToken, "pad_token");
        UnkId = Lookup(unkToken, "unk_token");
        _specialTokens = new[] { bosToken, eosToken }.Distinct().ToArray();
        foreach (var s in _specialTokens) _cache[s] = [s];
        MaxLength = maxLength;
    }

    public int BosId { get; }
    public int EosId { get; }
    public int PadId { get; }
    public int UnkId { get; }
    public int MaxLength { get; }
    public int VocabularySize => _vocab.Count;

    /// <summary>Loads a tokenizer folder; <paramref name="maxLength"/> defaults to model_max_length, else 77.</summary>
    public static ClipTokenizer Load(string dir, int? maxLength = null)
    {
        var vocabPath = Path.Combine(dir, "vocab.json");
        var mergesPath = Path.Combine(dir, "merges.txt");
        if (!File.Exists(vocabPath) || !File.Exists(mergesPath))
            throw new FileNotFoundException($"'{dir}' is not a CLIP tokenizer folder: vocab.json and merges.txt are needed");
        var vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllBytes(vocabPath))
            ?? throw new InvalidDataException($"{vocabPath} is empty");
        var config = TokenizerConfig.Load(dir);
        return new ClipTokenizer(vocab, ReadMerges(mergesPath),
            config.Get("bos_token") ?? ClipVocabulary.StartOfText,
            config.Get("eos_token") ?? ClipVocabulary.EndOfText,
            config.Get("pad_token") ?? ClipVocabulary.EndOfText,
            config.Get("unk_token") ?? ClipVocabulary.EndOfText,
            maxLength ?? Math.Min(config.ModelMaxLength ?? 77, 77));
    }

    /// <summary>
    /// merges.txt as transformers reads it: strip, split on '\n', skip the first line (the version
    /// header), keep at most 49152-256-2 merges.
    /// </summary>
    public static List<(string, string)> ReadMerges(string path)
    {
        var lines = File.ReadAllText(path, Encoding.UTF8).Trim().Split('\n');
        var merges = new List<(string, string)>(lines.Length);
        for (int i = 1; i < lines.Length && merges.Count < ClipVocabulary.MergeCount; i++)
        {
            var parts = lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2) throw new InvalidDataException($"{path} line {i + 1} is not a merge of two symbols: '{lines[i]}'");
            merges.Add((parts[0], parts[1]));
        }
        return merges;
    }

    /// <summary>BPE tokens of <paramref name="text"/> without special tokens.</summary>
    public List<string> Tokenize(string text)
    {
        var tokens = new List<string>();
        foreach (var word in ClipTextSplitter.Split(text, _specialTokens))
            tokens.AddRange(_cache.GetOrAdd(word, w => Bpe(ByteLevelAlphabet.Encode(w))));
        return tokens;
    }

    /// <summary>Token ids of <paramref name="text"/> without special tokens.</summary>
    public List<int> TokenIds(string text) => Tokenize(text).Select(t => _vocab.GetValueOrDefault(t, UnkId)).ToList();

    /// <summary>The model row: BOS, up to MaxLength-2 tokens, EOS, padding. Reports what truncation cut.</summary>
    public TokenizedText Encode(string text)
    {
        var ids = TokenIds(text);
        int keep = Math.Min(ids.Count, MaxLength - 2);
        var row = new long[MaxLength];
        row[0] = BosId;
        for (int i = 0; i < keep; i++) row[i + 1] = ids[i];
        row[keep + 1] = EosId;
        for (int i = keep + 2; i < MaxLength; i++) row[i] = PadId;
        string truncated = keep < ids.Count ? Decode(ids.Skip(keep)) : "";
        return new TokenizedText(row, keep + 2, truncated);
    }

    /// <summary>Ids back to text (transformers' convert_tokens_to_string: "&lt;/w&gt;" becomes a space).</summary>
    public string Decode(IEnumerable<int> ids)
    {
        var sb = new StringBuilder();
        foreach (var id in ids)
            if (id >= 0 && id < _idToToken.Length && _idToToken[id] is { } t) sb.Append(t);
        return ByteLevelAlphabet.Decode(sb.ToString()).Replace("</w>", " ").Trim();
    }

    private int Lookup(string token, string what) =>
        _vocab.TryGetValue(token, out int id) ? id : throw new InvalidDataException($"{what} '{token}' is not in the vocabulary");

    /// <summary>OpenAI's bpe(): merge the lowest-ranked adjacent pair everywhere, until no pair is ranked.</summary>
    private string[] Bpe(string token)
    {
        if (token.Length == 0) return [];
        var word = new List<string>(token.Length);
        for (int i = 0; i < token.Length - 1; i++) word.Add(token[i].ToString());
        word.Add(token[^1] + "</w>");

        while (word.Count > 1)
        {
            int bestRank = int.MaxValue;
            (string, string) best = default;
            for (int i = 0; i < word.Count - 1; i++)
            {
                if (_ranks.TryGetValue((word[i], word[i + 1]), out int r) && r < bestRank)
                {
                    bestRank = r;
                    best = (word[i], word[i + 1]);
                }
            }
            if (bestRank == int.MaxValue) break;

            var merged = new List<string>(word.Count);
            for (int i = 0; i < word.Count;)
            {
                if (i < word.Count - 1 && word[i] == best.Item1 && word[i + 1] == best.Item2)
                {
                    merged.Add(best.Item1 + best.Item2);
                    i += 2;
                }
                else merged.Add(word[i++]);
            }
            word = merged;
        }
        return word.ToArray();
    }
}
