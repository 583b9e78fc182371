using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Models.Tokenizers;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Prompting;

/// <summary>The three texts of one side of guidance; prompt_2/prompt_3 fall back to prompt (diffusers).</summary>
public sealed record PromptTexts(string Prompt, string? Prompt2 = null, string? Prompt3 = null)
{
    public string ForClipL => Prompt;
    public string ForClipG => string.IsNullOrEmpty(Prompt2) ? Prompt : Prompt2;
    public string ForT5 => string.IsNullOrEmpty(Prompt3) ? Prompt : Prompt3;
}

/// <summary>
/// diffusers' StableDiffusion3Pipeline.encode_prompt for one text triple: tokenize, run CLIP-L, CLIP-G
/// (penultimate hidden state, or hidden_states[-(clip_skip + 2)]) and T5 (or, without it, zeros of
/// max_sequence_length rows, as diffusers' _get_t5_prompt_embeds), assemble and repeat for
/// num_images_per_prompt. Encoder outputs go through the cache when one is given.
/// Truncations are reported as warnings.
/// </summary>
public sealed class PromptEncoder
{
    private readonly Sd3Components _c;
    private readonly PromptEmbeddingCache? _cache;
    private readonly StageTimings _timings;

    public PromptEncoder(Sd3Components components, PromptEmbeddingCache? cache = null, StageTimings? timings = null)
    {
        _c = components;
        _cache = cache;
        _timings = timings ?? new StageTimings();
    }

    public sealed record Result(PromptEmbeddings Embeddings, IReadOnlyList<string> Warnings);

    public async Task<Result> EncodeAsync(PromptTexts texts, int? clipSkip, int maxSequenceLength, bool useT5, int numImages,
        CancellationToken cancellationToken = default)
    {
        var warnings = new List<string>();
        var (idsL, idsG, idsT5) = _timings.Measure("tokenize", () =>
        {
            var l = _c.Tokenizer.Encode(texts.ForClipL, _c.ClipLength);
            var g = _c.Tokenizer2.Encode(texts.ForClipG, _c.ClipLength);
            var t = useT5 && _c.HasT5 ? _c.Tokenizer3!.Encode(texts.ForT5, maxSequenceLength) : null;
            return (l, g, t);
        });
        if (idsL.WasTruncated || idsG.WasTruncated)
            warnings.Add($"The following part of your input was truncated because CLIP can only handle sequences up to {_c.ClipLength} tokens: {(idsL.WasTruncated ? idsL.TruncatedText : idsG.TruncatedText)}");
        if (idsT5 is { WasTruncated: true })
            warnings.Add($"The following part of your input was truncated because `max_sequence_length` is set to {maxSequenceLength} tokens: {idsT5.TruncatedText}");

        int fromEnd = 2 + (clipSkip ?? 0);
        var clipL = EncodeClipAsync(StageNames.TextEncoder, _c.TextEncoder, texts.ForClipL, idsL, fromEnd, cancellationToken);
        var clipG = EncodeClipAsync(StageNames.TextEncoder2, _c.TextEncoder2, texts.ForClipG, idsG, fromEnd, cancellationToken);
        Task<Tensor> t5 = idsT5 is null
            ? Task.FromResult(PromptEmbeddingAssembler.T5Zeros(1, maxSequenceLength, _c.Model.JointAttentionDim))
            : EncodeT5Async(texts.ForT5, idsT5, maxSequenceLength, cancellationToken);
        await Task.WhenAll(clipL, clipG, t5).ConfigureAwait(false);

        var assembled = PromptEmbeddingAssembler.Assemble(clipL.Result.HiddenState, clipG.Result.HiddenState, t5.Result,
            clipL.Result.Pooled, clipG.Result.Pooled);
        var repeated = new PromptEmbeddings(TensorOps.RepeatRows(assembled.Embeds, numImages), TensorOps.RepeatRows(assembled.Pooled, numImages));
        return new Result(repeated, warnings);
    }

    private Task<ClipTextEncoding> EncodeClipAsync(string name, IClipTextEncoder encoder, string text, TokenizedText ids, int fromEnd,
        CancellationToken ct)
    {
        Task<ClipTextEncoding> Run() => _timings.MeasureAsync(name, () =>
            encoder.EncodeAsync(Tensor.FromArray(ids.Ids, 1, ids.Ids.Length), fromEnd, ct));
        return _cache is null ? Run() : _cache.GetOrAddAsync(new PromptEmbeddingCache.Key($"{name}/hidden_states[-{fromEnd}]", text, ids.Ids.Length), Run);
    }

    private Task<Tensor> EncodeT5Async(string text, TokenizedText ids, int maxLength, CancellationToken ct)
    {
        Task<Tensor> Run() => _timings.MeasureAsync(StageNames.TextEncoder3, () =>
            _c.TextEncoder3!.EncodeAsync(Tensor.FromArray(ids.Ids, 1, ids.Ids.Length), ct));
        return _cache is null ? Run() : _cache.GetOrAddAsync(new PromptEmbeddingCache.Key(StageNames.TextEncoder3, text, maxLength), Run);
    }
}
