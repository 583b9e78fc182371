using System.Text;
using System.Text.Json;

namespace Sd3Mesh.Models.Tokenizers;

/// <summary>The transformers class a tokenizer folder is loaded as (diffusers' model_index.json names it per folder).</summary>
public enum TokenizerClass
{
    /// <summary>tokenizer.json as the tokenizers library reads it (transformers' TokenizersBackend / PreTrainedTokenizerFast).</summary>
    FromFile,

    /// <summary>transformers' CLIPTokenizer (SD3's tokenizer and tokenizer_2).</summary>
    Clip,

    /// <summary>transformers' T5Tokenizer / T5TokenizerFast (SD3's tokenizer_3).</summary>
    T5,
}

/// <summary>
/// Loads a Hugging Face tokenizer folder into a <see cref="TextTokenizer"/> the way transformers 5 (5.17,
/// with tokenizers 0.23) does for the class diffusers asks for. transformers 5 builds CLIP and T5 tokenizers
/// from their class's own pipeline and takes only the vocabulary (and T5's precompiled charsmap) from the
/// files, whatever pipeline a tokenizer.json holds:
/// <list type="bullet">
/// <item>CLIPTokenizer: NFC, whitespace runs to one space, lower case; CLIP's word pattern (Split, removed,
/// inverted) then ByteLevel; BPE with "&lt;/w&gt;" ending words (vocab and merges from tokenizer.json, else
/// vocab.json and merges.txt); &lt;|startoftext|&gt; X &lt;|endoftext|&gt;.</item>
/// <item>T5Tokenizer: the Precompiled charsmap of tokenizer.json (or spiece.model) if any, no other
/// normalizer; WhitespaceSplit then Metaspace ("▁", always, split); Unigram (unk id 2); X &lt;/s&gt;.</item>
/// <item>FromFile: tokenizer.json's pipeline as it is.</item>
/// </list>
/// Added tokens: tokenizer.json's, then tokenizer_config.json's added_tokens_decoder, then the config's
/// special tokens not yet added (special, not normalized), as transformers adds them.
/// </summary>
public static class TokenizerFolder
{
    public const string ClipWordPattern = @"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

    public static TextTokenizer Load(string dir, TokenizerClass cls)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"tokenizer folder {dir} is missing");
        var config = TokenizerConfig.Load(dir);
        var jsonPath = Path.Combine(dir, TokenizerJson.FileName);
        var json = File.Exists(jsonPath) ? TokenizerJson.Read(jsonPath) : null;
        return cls switch
        {
            TokenizerClass.Clip => Clip(dir, config, json),
            TokenizerClass.T5 => T5(dir, config, json),
            _ => FromFile(jsonPath, config, json),
        };
    }

    /// <summary>A tokenizer.json file as the tokenizers library reads it (Tokenizer.from_file), padding with <paramref name="padToken"/>.</summary>
    public static TextTokenizer LoadFile(string path, string? padToken = null)
    {
        var json = TokenizerJson.Read(path);
        return new TextTokenizer(json.Model, json.Normalizer, json.PreTokenizer, json.PostProcessor, json.AddedTokens, padToken);
    }

    private static TextTokenizer FromFile(string jsonPath, TokenizerConfig config, TokenizerJson? json)
    {
        if (json is null) throw new FileNotFoundException($"{jsonPath} is missing");
        var added = AddedTokens(json.AddedTokens, config, []);
        return new TextTokenizer(json.Model, json.Normalizer, json.PreTokenizer, json.PostProcessor, added, config.Get("pad_token"), config.ModelMaxLength);
    }

    private static TextTokenizer Clip(string dir, TokenizerConfig config, TokenizerJson? json)
    {
        string unk = config.Get("unk_token") ?? "<|endoftext|>", bos = config.Get("bos_token") ?? "<|startoftext|>";
        string eos = config.Get("eos_token") ?? "<|endoftext|>", pad = config.Get("pad_token") ?? "<|endoftext|>";
        var (vocab, merges) = json?.ReadBpe() ?? ReadVocabAndMerges(dir);
        BpeModel model;
        try { model = new BpeModel(vocab, merges, unk, continuingSubwordPrefix: "", endOfWordSuffix: "</w>"); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{json?.Path ?? Path.Combine(dir, "merges.txt")}: {e.Message}", e); }
        INormalizer normalizer = new SequenceNormalizer([
            new UnicodeFormNormalizer(UnicodeForm.Nfc), new ReplaceNormalizer(new CodePointRegex(@"\s+"), " "), new LowercaseNormalizer()]);
        IPreTokenizer pre = new SequencePreTokenizer([
            new SplitPreTokenizer(new CodePointRegex(ClipWordPattern), SplitBehavior.Removed, Invert: true),
            new ByteLevelPreTokenizer(AddPrefixSpace: false, UseRegex: true)]);
        var named = new[] { unk, bos, eos, pad }.Select(AddedToken.SpecialFromString);
        var added = AddedVocabulary.For(AddedTokens(json?.AddedTokens ?? [], config, named), model, normalizer);
        var post = new ClsSepProcessor(Id(added, model, bos, "bos_token", dir), Id(added, model, eos, "eos_token", dir));
        return new TextTokenizer(model, normalizer, pre, post, added, pad, config.ModelMaxLength);
    }

    private static TextTokenizer T5(string dir, TokenizerConfig config, TokenizerJson? json)
    {
        string eos = config.Get("eos_token") ?? "</s>", unk = config.Get("unk_token") ?? "<unk>", pad = config.Get("pad_token") ?? "<pad>";
        int extraIds = config.ExtraIds ?? 100;
        List<UnigramPiece> pieces;
        byte[]? charsMap;
        var fileTokens = new List<AddedToken>(json?.AddedTokens ?? []);
        if (json is not null)
        {
            pieces = json.ReadUnigram();
            charsMap = json.PrecompiledCharsMap;
        }
        else
        {
            var spmPath = Path.Combine(dir, "spiece.model");
            if (!File.Exists(spmPath)) throw new FileNotFoundException($"'{dir}' is not a T5 tokenizer folder: tokenizer.json or spiece.model is needed");
            var spm = SentencePieceModelFile.Read(spmPath);
            if (spm.ModelType != 1) throw new InvalidDataException($"{spmPath} has model_type {spm.ModelType}; only Unigram (1) is supported");
            pieces = spm.Pieces.Select(p => new UnigramPiece(p.Piece, p.Score)).ToList();
            // As transformers' T5 conversion: the sentinels follow the pieces, <extra_id_0> last.
            for (int i = extraIds - 1; i >= 0; i--) pieces.Add(new UnigramPiece($"<extra_id_{i}>", 0));
            charsMap = spm.PrecompiledCharsMap is { Length: > 0 } map ? map : null;
            foreach (var p in spm.Pieces)
                if (p.Type is PieceType.Control or PieceType.Unknown) fileTokens.Add(AddedToken.SpecialFromString(p.Piece));
                else if (p.Type is PieceType.UserDefined) fileTokens.Add(new AddedToken(p.Piece, Special: false, Normalized: false));
        }
        // transformers 5's T5Tokenizer fixes unk_id at 2 (T5's <unk>) and turns byte fallback off.
        var model = new UnigramModel(pieces, unkId: 2);
        INormalizer? normalizer = charsMap is null ? null : new PrecompiledNormalizer(charsMap);
        IPreTokenizer pre = new SequencePreTokenizer([new WhitespaceSplitPreTokenizer(), new MetaspacePreTokenizer('\u2581', PrependScheme.Always, SplitWords: true)]);
        var named = new[] { eos, unk, pad }.Select(AddedToken.SpecialFromString).ToList();
        if (!config.Additional.Any(t => t.Content.StartsWith("<extra_id_", StringComparison.Ordinal)))
            named.AddRange(Enumerable.Range(0, extraIds).Select(i => AddedToken.SpecialFromString($"<extra_id_{i}>")));
        var added = AddedVocabulary.For(AddedTokens(fileTokens, config, named), model, normalizer);
        var post = new TemplateProcessor([TemplatePiece.Sequence, new TemplatePiece(false, [Id(added, model, eos, "eos_token", dir)])]);
        return new TextTokenizer(model, normalizer, pre, post, added, pad, config.ModelMaxLength);
    }

    /// <summary>The added tokens in transformers' order; a later entry for the same content replaces the earlier flags.</summary>
    private static List<AddedToken> AddedTokens(IEnumerable<AddedToken> fromFile, TokenizerConfig config, IEnumerable<AddedToken> classDefaults)
    {
        var list = new List<AddedToken>(fromFile);
        list.AddRange(config.AddedTokensDecoder.Values);
        var present = list.Select(t => t.Content).ToHashSet(StringComparer.Ordinal);
        var named = TokenizerConfig.SpecialTokenKeys.Select(config.Named).OfType<AddedToken>().Concat(config.Additional).Concat(classDefaults);
        foreach (var t in named)
            if (present.Add(t.Content)) list.Add(t with { Special = true });
        return list;
    }

    private static int Id(AddedVocabulary added, ITokenModel model, string token, string key, string dir) =>
        added.TokenToId(token, model) ?? throw new InvalidDataException($"{dir}: {key} '{token}' is neither an added token nor in the vocabulary");

    /// <summary>vocab.json and merges.txt (the header line "#version: ..." skipped, as transformers does).</summary>
    public static (Dictionary<string, int> Vocab, List<(string, string)> Merges) ReadVocabAndMerges(string dir)
    {
        var vocabPath = Path.Combine(dir, "vocab.json");
        var mergesPath = Path.Combine(dir, "merges.txt");
        if (!File.Exists(vocabPath) || !File.Exists(mergesPath))
            throw new FileNotFoundException($"'{dir}' is not a CLIP tokenizer folder: tokenizer.json, or vocab.json and merges.txt, are needed");
        Dictionary<string, int> vocab;
        try { vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllBytes(vocabPath)) ?? throw new InvalidDataException($"{vocabPath} is empty"); }
        catch (JsonException e) { throw new InvalidDataException($"{vocabPath} is not a JSON object of token ids: {e.Message}", e); }
        var merges = new List<(string, string)>();
        var lines = File.ReadAllText(mergesPath, Encoding.UTF8).Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.Length == 0 || (i == 0 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            var parts = line.Split(' ');
            if (parts.Length != 2) throw new InvalidDataException($"{mergesPath} line {i + 1} is not a merge of two symbols: '{line}'");
            merges.Add((parts[0], parts[1]));
        }
        return (vocab, merges);
    }
}
