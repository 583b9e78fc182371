using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Sd3Mesh.Models.Tokenizers;

/// <summary>
/// Writes the tokenizer folders of an SD3 model in Hugging Face's layout, so a created model folder
/// looks like one exported from diffusers/optimum:
/// <list type="bullet">
/// <item><c>tokenizer/</c>, <c>tokenizer_2/</c>: CLIP BPE (vocab.json, merges.txt, tokenizer_config.json,
/// special_tokens_map.json) with OpenAI's real vocabulary; SD3 pads <c>tokenizer</c> with
/// &lt;|endoftext|&gt; and <c>tokenizer_2</c> with "!" (id 0).</item>
/// <item><c>tokenizer_3/</c>: a SYNTHETIC T5-shaped SentencePiece Unigram tokenizer.json (see
/// <see cref="SyntheticT5Vocabulary"/>): the real T5 vocabulary cannot be fetched here. It has T5's ids for
/// the special tokens and T5's size, so models and pipelines see the same shapes; with real SD3 weights
/// use the real tokenizer_3 folder.</item>
/// </list>
/// </summary>
public static class TokenizerFiles
{
    /// <summary>SD3's pad token for <c>tokenizer</c> (CLIP-L).</summary>
    public const string ClipLPadToken = ClipVocabulary.EndOfText;

    /// <summary>SD3's pad token for <c>tokenizer_2</c> (OpenCLIP bigG): "!", id 0.</summary>
    public const string ClipGPadToken = "!";

    private static readonly JsonWriterOptions Pretty = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Writes a CLIP tokenizer folder (created if missing) padding with <paramref name="padToken"/>.</summary>
    public static void WriteClip(string dir, string padToken, int modelMaxLength = 77)
    {
        var vocab = ClipVocabulary.Load();
        if (!vocab.Tokens.Contains(padToken))
            throw new ArgumentException($"pad token '{padToken}' is not in the CLIP vocabulary", nameof(padToken));
        Directory.CreateDirectory(dir);

        WriteJson(Path.Combine(dir, "vocab.json"), w =>
        {
            w.WriteStartObject();
            for (int id = 0; id < vocab.Tokens.Count; id++) w.WriteNumber(vocab.Tokens[id], id);
            w.WriteEndObject();
        });

        var merges = new StringBuilder("#version: 0.2\n");
        foreach (var (left, right) in vocab.Merges) merges.Append(left).Append(' ').Append(right).Append('\n');
        File.WriteAllText(Path.Combine(dir, "merges.txt"), merges.ToString(), new UTF8Encoding(false));

        WriteJson(Path.Combine(dir, "tokenizer_config.json"), w =>
        {
            w.WriteStartObject();
            w.WriteString("tokenizer_class", "CLIPTokenizer");
            w.WriteString("bos_token", ClipVocabulary.StartOfText);
            w.WriteString("eos_token", ClipVocabulary.EndOfText);
            w.WriteString("unk_token", ClipVocabulary.EndOfText);
            w.WriteString("pad_token", padToken);
            w.WriteNumber("model_max_length", modelMaxLength);
            w.WriteBoolean("do_lower_case", true);
            w.WriteBoolean("add_prefix_space", false);
            w.WriteString("errors", "replace");
            w.WriteBoolean("clean_up_tokenization_spaces", true);
            w.WriteEndObject();
        });

        WriteJson(Path.Combine(dir, "special_tokens_map.json"), w =>
        {
            w.WriteStartObject();
            w.WriteString("bos_token", ClipVocabulary.StartOfText);
            w.WriteString("eos_token", ClipVocabulary.EndOfText);
            w.WriteString("unk_token", ClipVocabulary.EndOfText);
            w.WriteString("pad_token", padToken);
            w.WriteEndObject();
        });
    }

    /// <summary>
    /// Writes the synthetic T5 Unigram tokenizer folder: tokenizer.json (model type Unigram, T5's special
    /// ids, Metaspace pre-tokenizer, "$A &lt;/s&gt;" post-processor), tokenizer_config.json and
    /// special_tokens_map.json.
    /// </summary>
    public static void WriteSyntheticT5(string dir, int modelMaxLength = 512)
    {
        var vocab = SyntheticT5Vocabulary.Build();
        Directory.CreateDirectory(dir);

        WriteJson(Path.Combine(dir, "tokenizer.json"), w =>
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            w.WriteStartArray("added_tokens");
            for (int id = 0; id < vocab.Pieces.Count; id++)
            {
                if (!vocab.IsSpecial(id)) continue;
                w.WriteStartObject();
                w.WriteNumber("id", id);
                w.WriteString("content", vocab.Pieces[id].Piece);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("lstrip", false);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("normalized", false);
                w.WriteBoolean("special", true);
                w.WriteEndObject();
            }
            w.WriteEndArray();

            // No precompiled NFKC charsmap here (synthetic): only runs of spaces are collapsed.
            w.WriteStartObject("normalizer");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("normalizers");
            w.WriteStartObject();
            w.WriteString("type", "Replace");
            w.WriteStartObject("pattern");
            w.WriteString("Regex", " {2,}");
            w.WriteEndObject();
            w.WriteString("content", " ");
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();

            w.WriteStartObject("pre_tokenizer");
            WriteMetaspace(w);
            w.WriteEndObject();

            w.WriteStartObject("post_processor");
            w.WriteString("type", "TemplateProcessing");
            w.WriteStartArray("single");
            w.WriteStartObject(); w.WriteStartObject("Sequence"); w.WriteString("id", "A"); w.WriteNumber("type_id", 0); w.WriteEndObject(); w.WriteEndObject();
            w.WriteStartObject(); w.WriteStartObject("SpecialToken"); w.WriteString("id", SyntheticT5Vocabulary.Eos); w.WriteNumber("type_id", 0); w.WriteEndObject(); w.WriteEndObject();
            w.WriteEndArray();
            w.WriteStartObject("special_tokens");
            w.WriteStartObject(SyntheticT5Vocabulary.Eos);
            w.WriteString("id", SyntheticT5Vocabulary.Eos);
            w.WriteStartArray("ids"); w.WriteNumberValue(SyntheticT5Vocabulary.EosId); w.WriteEndArray();
            w.WriteStartArray("tokens"); w.WriteStringValue(SyntheticT5Vocabulary.Eos); w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();

            w.WriteStartObject("decoder");
            WriteMetaspace(w);
            w.WriteEndObject();

            w.WriteStartObject("model");
            w.WriteString("type", "Unigram");
            w.WriteNumber("unk_id", SyntheticT5Vocabulary.UnkId);
            w.WriteStartArray("vocab");
            foreach (var (piece, score) in vocab.Pieces)
            {
                w.WriteStartArray();
                w.WriteStringValue(piece);
                w.WriteNumberValue(score);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteBoolean("byte_fallback", false);
            w.WriteEndObject();
            w.WriteEndObject();
        });

        WriteJson(Path.Combine(dir, "tokenizer_config.json"), w =>
        {
            w.WriteStartObject();
            w.WriteString("tokenizer_class", "T5Tokenizer");
            w.WriteString("eos_token", SyntheticT5Vocabulary.Eos);
            w.WriteString("unk_token", SyntheticT5Vocabulary.Unk);
            w.WriteString("pad_token", SyntheticT5Vocabulary.Pad);
            w.WriteNumber("extra_ids", SyntheticT5Vocabulary.ExtraIds);
            w.WriteNumber("model_max_length", modelMaxLength);
            w.WriteString("sd3mesh_note", "synthetic T5-shaped Unigram vocabulary for models with seeded random weights (Sd3Mesh.Models.Tokenizers.SyntheticT5Vocabulary); not T5's real vocabulary");
            w.WriteEndObject();
        });

        WriteJson(Path.Combine(dir, "special_tokens_map.json"), w =>
        {
            w.WriteStartObject();
            w.WriteString("eos_token", SyntheticT5Vocabulary.Eos);
            w.WriteString("unk_token", SyntheticT5Vocabulary.Unk);
            w.WriteString("pad_token", SyntheticT5Vocabulary.Pad);
            w.WriteStartArray("additional_special_tokens");
            for (int i = 0; i < SyntheticT5Vocabulary.ExtraIds; i++) w.WriteStringValue($"<extra_id_{i}>");
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    private static void WriteMetaspace(Utf8JsonWriter w)
    {
        w.WriteString("type", "Metaspace");
        w.WriteString("replacement", "\u2581");
        w.WriteString("prepend_scheme", "always");
        w.WriteBoolean("split", true);
    }

    private static void WriteJson(string path, Action<Utf8JsonWriter> write)
    {
        using var stream = File.Create(path);
        using var writer = new Utf8JsonWriter(stream, Pretty);
        write(writer);
    }
}
