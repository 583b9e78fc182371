using System.Text;

namespace Sd3Mesh.Models.Tokenizers;

/// <summary>
/// A Hugging Face tokenizer pipeline, as the tokenizers library runs it: added tokens split out of the text
/// (<see cref="AddedVocabulary"/>), the normalizer, the pre-tokenizer, the model (BPE or Unigram), then the
/// post-processor's special tokens. <see cref="Encode(string, int)"/> gives the row transformers gives for
/// <c>tokenizer(text, padding="max_length", max_length=n, truncation=True)</c>, the call diffusers makes.
/// Load one from a folder with <see cref="TokenizerFolder"/>.
/// </summary>
public sealed class TextTokenizer
{
    public TextTokenizer(ITokenModel model, INormalizer? normalizer, IPreTokenizer? preTokenizer, IPostProcessor? postProcessor,
        IEnumerable<AddedToken> addedTokens, string? padToken = null, int? modelMaxLength = null)
        : this(model, normalizer, preTokenizer, postProcessor, AddedVocabulary.For(addedTokens, model, normalizer), padToken, modelMaxLength)
    {
    }

    public TextTokenizer(ITokenModel model, INormalizer? normalizer, IPreTokenizer? preTokenizer, IPostProcessor? postProcessor,
        AddedVocabulary added, string? padToken = null, int? modelMaxLength = null)
    {
        Model = model;
        Normalizer = normalizer;
        PreTokenizer = preTokenizer;
        PostProcessor = postProcessor;
        Added = added;
        if (padToken is not null)
            PadId = TokenToId(padToken) ?? throw new InvalidDataException($"pad_token '{padToken}' is neither an added token nor in the vocabulary");
        PadToken = padToken;
        ModelMaxLength = modelMaxLength;
    }

    public ITokenModel Model { get; }
    public INormalizer? Normalizer { get; }
    public IPreTokenizer? PreTokenizer { get; }
    public IPostProcessor? PostProcessor { get; }
    public AddedVocabulary Added { get; }
    public string? PadToken { get; }
    public int? PadId { get; }

    /// <summary>tokenizer_config.json's model_max_length (null when absent or transformers' "very large" sentinel).</summary>
    public int? ModelMaxLength { get; }

    /// <summary>One more than the largest id the tokenizer can produce (model vocabulary and added tokens).</summary>
    public int IdLimit => Math.Max(Model.VocabularySize, Added.Tokens.Count == 0 ? 0 : Added.Tokens.Keys.Max() + 1);

    public int? TokenToId(string token) => Added.TokenToId(token, Model);
    public string? IdToToken(int id) => Added.Tokens.TryGetValue(id, out var t) ? t.Content : Model.IdToToken(id);

    /// <summary>The ids of <paramref name="text"/>, without the post-processor's special tokens.</summary>
    public List<int> TokenIds(string text)
    {
        var ids = new List<int>();
        foreach (var (piece, id) in Added.Split(text, Normalizer))
        {
            if (piece is null) { ids.Add(id); continue; }
            var words = PreTokenizer is null ? [piece] : PreTokenizer.Split(piece);
            foreach (var word in words)
                if (!word.IsEmpty) Model.Tokenize(word.ToString(), ids);
        }
        return ids;
    }

    /// <summary>The ids with the post-processor's special tokens (transformers' add_special_tokens=True).</summary>
    public List<int> Encode(string text) => PostProcessor?.Process(TokenIds(text)) ?? TokenIds(text);

    /// <summary>
    /// The model row of exactly <paramref name="maxLength"/> ids: the text's ids truncated to leave room for the
    /// post-processor's special tokens, the special tokens, then the pad token. Reports what truncation cut.
    /// </summary>
    public TokenizedText Encode(string text, int maxLength)
    {
        int special = PostProcessor?.AddedTokens ?? 0;
        if (maxLength < Math.Max(special, 1))
            throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, $"the row needs room for the {special} special tokens");
        var ids = TokenIds(text);
        int keep = Math.Min(ids.Count, maxLength - special);
        var row = PostProcessor?.Process(ids.GetRange(0, keep)) ?? ids.GetRange(0, keep);
        if (row.Count < maxLength && PadId is null)
            throw new InvalidOperationException("the tokenizer has no pad_token, so it cannot pad a row to max_length");
        var result = new long[maxLength];
        for (int i = 0; i < maxLength; i++) result[i] = i < row.Count ? row[i] : PadId!.Value;
        return new TokenizedText(result, row.Count, keep < ids.Count ? Decode(ids.Skip(keep)) : "");
    }

    /// <summary>
    /// Ids back to text, for messages (the truncation warning): tokens joined, byte-level characters read as
    /// bytes, the end-of-word suffix and Metaspace's replacement read as spaces, outer spaces trimmed.
    /// </summary>
    public string Decode(IEnumerable<int> ids)
    {
        var sb = new StringBuilder();
        foreach (var id in ids) sb.Append(IdToToken(id));
        var text = sb.ToString();
        if (Uses<ByteLevelPreTokenizer>(PreTokenizer)) text = ByteLevelAlphabet.Decode(text);
        if (Model is BpeModel { Suffix: { Length: > 0 } suffix }) text = text.Replace(suffix, " ");
        if (FindMetaspace(PreTokenizer) is { } m) text = text.Replace(char.ConvertFromUtf32(m.Replacement), " ");
        return text.Trim();
    }

    private static bool Uses<T>(IPreTokenizer? p) => p is T || p is SequencePreTokenizer s && s.PreTokenizers.Any(Uses<T>);

    private static MetaspacePreTokenizer? FindMetaspace(IPreTokenizer? p) => p switch
    {
        MetaspacePreTokenizer m => m,
        SequencePreTokenizer s => s.PreTokenizers.Select(FindMetaspace).FirstOrDefault(m => m is not null),
        _ => null,
    };
}
