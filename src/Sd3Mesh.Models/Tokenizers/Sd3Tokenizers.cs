using Sd3Mesh.Models.Repository;

namespace Sd3Mesh.Models.Tokenizers;

/// <summary>
/// SD3's tokenizers as diffusers' StableDiffusion3Pipeline loads them (model_index.json: tokenizer and
/// tokenizer_2 are CLIPTokenizer, tokenizer_3 is T5TokenizerFast), from a diffusers folder or an ONNX model
/// repository. tokenizer_3 is optional (SD3 runs without T5).
/// </summary>
public sealed record Sd3Tokenizers(TextTokenizer Clip, TextTokenizer Clip2, TextTokenizer? T5)
{
    /// <summary>diffusers' tokenizer_max_length: tokenizer's model_max_length (77 without one), both CLIP rows' length.</summary>
    public int ClipLength => Math.Min(Clip.ModelMaxLength ?? 77, 77);

    /// <summary>
    /// Loads tokenizer/, tokenizer_2/ and, if present and <paramref name="withT5"/> (a model without
    /// text_encoder_3 never uses it), tokenizer_3/ of <paramref name="root"/>; a folder that cannot be used is
    /// named with the reason.
    /// </summary>
    public static Sd3Tokenizers Load(string root, bool withT5 = true)
    {
        string Folder(int i) => Path.Combine(root, RepositoryLayout.TokenizerFolders[i]);
        var t5 = withT5 && Directory.Exists(Folder(2)) ? Load(Folder(2), TokenizerClass.T5) : null;
        return new Sd3Tokenizers(Load(Folder(0), TokenizerClass.Clip), Load(Folder(1), TokenizerClass.Clip), t5);
    }

    private static TextTokenizer Load(string dir, TokenizerClass cls)
    {
        var name = $"{Path.GetFileName(dir)}/ ({(cls == TokenizerClass.Clip ? "CLIPTokenizer" : "T5TokenizerFast")})";
        try
        {
            var tokenizer = TokenizerFolder.Load(dir, cls);
            if (tokenizer.PadId is null) throw new InvalidDataException("it has no pad_token, and SD3 pads every prompt");
            return tokenizer;
        }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ModelFormatException($"{name} cannot be loaded: {e.Message}", e);
        }
    }

    /// <summary>Refuses tokenizers whose ids would not fit the text encoders' embedding tables.</summary>
    public void CheckVocabularySizes(int clipVocabulary, int clip2Vocabulary, int? t5Vocabulary)
    {
        static void Check(TextTokenizer t, int vocabulary, string folder)
        {
            if (t.IdLimit > vocabulary)
                throw new ModelFormatException($"{folder}/ produces ids up to {t.IdLimit - 1}, but its text encoder's vocab_size is {vocabulary}");
        }
        Check(Clip, clipVocabulary, RepositoryLayout.TokenizerFolders[0]);
        Check(Clip2, clip2Vocabulary, RepositoryLayout.TokenizerFolders[1]);
        if (T5 is not null && t5Vocabulary is { } v) Check(T5, v, RepositoryLayout.TokenizerFolders[2]);
    }
}
