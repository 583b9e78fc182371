using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Prompting;

/// <summary>
/// SD3's conditioning for one side of classifier-free guidance: prompt embeddings
/// [B, 77 + T, joint_attention_dim] (CLIP-L ⊕ CLIP-G features zero-padded to the T5 width, then T5's
/// tokens along the sequence) and pooled embeddings [B, pooled_l + pooled_g], float32.
/// </summary>
public sealed record PromptEmbeddings(Tensor Embeds, Tensor Pooled)
{
    public long Batch => Embeds.Shape[0];

    /// <summary>Negative first, then positive (diffusers' order for the batched transformer call).</summary>
    public static PromptEmbeddings ConcatForGuidance(PromptEmbeddings negative, PromptEmbeddings positive) =>
        new(Tensor.Concat([negative.Embeds, positive.Embeds], 0), Tensor.Concat([negative.Pooled, positive.Pooled], 0));
}

/// <summary>Assembles encoder outputs as diffusers' StableDiffusion3Pipeline.encode_prompt does.</summary>
public static class PromptEmbeddingAssembler
{
    /// <param name="clipL">CLIP-L hidden state [B, 77, w1]</param>
    /// <param name="clipG">CLIP-G hidden state [B, 77, w2]</param>
    /// <param name="t5">T5 last_hidden_state [B, T, D] (zeros when T5 is not used)</param>
    /// <param name="pooledL">CLIP-L text_embeds [B, p1]</param>
    /// <param name="pooledG">CLIP-G text_embeds [B, p2]</param>
    public static PromptEmbeddings Assemble(Tensor clipL, Tensor clipG, Tensor t5, Tensor pooledL, Tensor pooledG)
    {
        var clip = Tensor.Concat([clipL.AsDType(DType.Float32), clipG.AsDType(DType.Float32)], -1);
        // torch.nn.functional.pad(clip, (0, D - w)): zeros up to the T5 width (a crop if CLIP is wider).
        clip = TensorOps.PadLastDim(clip, t5.Shape[-1]);
        var embeds = Tensor.Concat([clip, t5.AsDType(DType.Float32)], 1);
        var pooled = Tensor.Concat([pooledL.AsDType(DType.Float32), pooledG.AsDType(DType.Float32)], -1);
        return new PromptEmbeddings(embeds, pooled);
    }

    /// <summary>
    /// diffusers' stand-in for a missing T5 (_get_t5_prompt_embeds when text_encoder_3 is None, at 58eb52c):
    /// zeros [B, max_sequence_length, joint_attention_dim].
    /// </summary>
    public static Tensor T5Zeros(long batch, int maxSequenceLength, int jointAttentionDim) =>
        Tensor.Zeros(DType.Float32, new TensorShape(batch, maxSequenceLength, jointAttentionDim));
}
