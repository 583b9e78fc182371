namespace Sd3Mesh.Models.Tokenizers;

/// <summary>A post-processor of a Hugging Face pipeline (tokenizer.json's "post_processor"): special tokens around a sequence.</summary>
public interface IPostProcessor
{
    /// <summary>How many ids it adds to a single sequence (truncation leaves room for them).</summary>
    int AddedTokens { get; }

    List<int> Process(IReadOnlyList<int> ids);
}

/// <summary>One element of a template: the sequence itself ($A), or a special token's ids.</summary>
public sealed record TemplatePiece(bool IsSequence, IReadOnlyList<int> Ids)
{
    public static TemplatePiece Sequence { get; } = new(true, []);
}

/// <summary>"TemplateProcessing": the single-sequence template, e.g. "$A &lt;/s&gt;".</summary>
public sealed record TemplateProcessor(IReadOnlyList<TemplatePiece> Single) : IPostProcessor
{
    public int AddedTokens => Single.Where(p => !p.IsSequence).Sum(p => p.Ids.Count);

    public List<int> Process(IReadOnlyList<int> ids)
    {
        var result = new List<int>(ids.Count + AddedTokens);
        foreach (var p in Single) result.AddRange(p.IsSequence ? ids : p.Ids);
        return result;
    }
}

/// <summary>"RobertaProcessing" and "BertProcessing" (for one sequence both give cls, the sequence, sep).</summary>
public sealed record ClsSepProcessor(int ClsId, int SepId) : IPostProcessor
{
    public int AddedTokens => 2;
    public List<int> Process(IReadOnlyList<int> ids) => [ClsId, .. ids, SepId];
}

/// <summary>"ByteLevel" as a post-processor only trims offsets: the ids stay as they are.</summary>
public sealed record IdentityProcessor : IPostProcessor
{
    public int AddedTokens => 0;
    public List<int> Process(IReadOnlyList<int> ids) => [.. ids];
}

/// <summary>"Sequence": each post-processor in turn.</summary>
public sealed record SequenceProcessor(IReadOnlyList<IPostProcessor> Processors) : IPostProcessor
{
    public int AddedTokens => Processors.Sum(p => p.AddedTokens);

    public List<int> Process(IReadOnlyList<int> ids)
    {
        var result = ids.ToList();
        foreach (var p in Processors) result = p.Process(result);
        return result;
    }
}
