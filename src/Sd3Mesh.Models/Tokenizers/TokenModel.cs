namespace Sd3Mesh.Models.Tokenizers;

/// <summary>The model of a Hugging Face pipeline (tokenizer.json's "model"): words to token ids.</summary>
public interface ITokenModel
{
    /// <summary>Appends the ids of one word.</summary>
    void Tokenize(string word, List<int> ids);

    int? TokenToId(string token);
    string? IdToToken(int id);

    /// <summary>The number of entries of the vocabulary (tokenizers' get_vocab_size).</summary>
    int VocabularySize { get; }
}
