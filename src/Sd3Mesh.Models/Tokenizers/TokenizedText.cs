namespace Sd3Mesh.Models.Tokenizers;

/// <summary>
/// One text as a model input row: exactly <c>MaxLength</c> ids (special tokens added, truncated, padded),
/// how many of them are real tokens (the rest is padding), and the text that truncation removed (empty
/// when nothing was cut) so callers can warn as diffusers does.
/// </summary>
public sealed record TokenizedText(long[] Ids, int TokenCount, string TruncatedText)
{
    public bool WasTruncated => TruncatedText.Length > 0;
}
