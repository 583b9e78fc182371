using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Guidance;
using Sd3Mesh.Pipeline.Imaging;
using Sd3Mesh.Pipeline.Vae;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Serialization;

// Orleans serializes the pipeline's own types through surrogates, so a validated request reaches the coordinator
// grain as the same GenerationRequest the server built (mapped and validated once, on the primary).

[GenerateSerializer]
public struct TensorSurrogate
{
    [Id(0)] public int DType;
    [Id(1)] public long[] Shape;
    [Id(2)] public byte[] Data;
}

[RegisterConverter]
public sealed class TensorConverter : IConverter<Tensor, TensorSurrogate>
{
    public Tensor ConvertFromSurrogate(in TensorSurrogate s) => new((DType)s.DType, new TensorShape(s.Shape), s.Data);

    public TensorSurrogate ConvertToSurrogate(in Tensor t) =>
        new() { DType = (int)t.DType, Shape = t.Shape.ToArray(), Data = t.Data.ToArray() };
}

[GenerateSerializer]
public struct RgbImageSurrogate
{
    [Id(0)] public int Width;
    [Id(1)] public int Height;
    [Id(2)] public byte[] Pixels;
}

[RegisterConverter]
public sealed class RgbImageConverter : IConverter<RgbImage, RgbImageSurrogate>
{
    public RgbImage ConvertFromSurrogate(in RgbImageSurrogate s) => new(s.Width, s.Height, s.Pixels);
    public RgbImageSurrogate ConvertToSurrogate(in RgbImage i) => new() { Width = i.Width, Height = i.Height, Pixels = i.Pixels };
}

[GenerateSerializer]
public struct GenerationRequestSurrogate
{
    [Id(0)] public string Prompt;
    [Id(1)] public string? Prompt2;
    [Id(2)] public string? Prompt3;
    [Id(3)] public string NegativePrompt;
    [Id(4)] public string? NegativePrompt2;
    [Id(5)] public string? NegativePrompt3;
    [Id(6)] public int Width;
    [Id(7)] public int Height;
    [Id(8)] public int Steps;
    [Id(9)] public double GuidanceScale;
    [Id(10)] public ulong[] Seeds;
    [Id(11)] public int Count;
    [Id(12)] public int MaxSequenceLength;
    [Id(13)] public bool UseT5;
    [Id(14)] public RgbImage? InitImage;
    [Id(15)] public double Strength;
    [Id(16)] public Tensor? Latents;
    [Id(17)] public OutputType OutputType;
    [Id(18)] public int? ClipSkip;
    [Id(19)] public CfgMode CfgMode;
    [Id(20)] public float[]? Sigmas;
    [Id(21)] public PosteriorSampling PosteriorSampling;
    [Id(22)] public int ResumeStep;
    [Id(23)] public Tensor? ResumeLatents;
}

[RegisterConverter]
public sealed class GenerationRequestConverter : IConverter<GenerationRequest, GenerationRequestSurrogate>
{
    public GenerationRequest ConvertFromSurrogate(in GenerationRequestSurrogate s) => new()
    {
        Prompt = s.Prompt, Prompt2 = s.Prompt2, Prompt3 = s.Prompt3,
        NegativePrompt = s.NegativePrompt, NegativePrompt2 = s.NegativePrompt2, NegativePrompt3 = s.NegativePrompt3,
        Width = s.Width, Height = s.Height, Steps = s.Steps, GuidanceScale = s.GuidanceScale, Seeds = s.Seeds, Count = s.Count,
        MaxSequenceLength = s.MaxSequenceLength, UseT5 = s.UseT5, InitImage = s.InitImage, Strength = s.Strength, Latents = s.Latents,
        OutputType = s.OutputType, ClipSkip = s.ClipSkip, CfgMode = s.CfgMode, Sigmas = s.Sigmas, PosteriorSampling = s.PosteriorSampling,
        Resume = s.ResumeLatents is { } latents ? new DenoisingCheckpoint(s.ResumeStep, latents) : null,
    };

    public GenerationRequestSurrogate ConvertToSurrogate(in GenerationRequest r) => new()
    {
        Prompt = r.Prompt, Prompt2 = r.Prompt2, Prompt3 = r.Prompt3,
        NegativePrompt = r.NegativePrompt, NegativePrompt2 = r.NegativePrompt2, NegativePrompt3 = r.NegativePrompt3,
        Width = r.Width, Height = r.Height, Steps = r.Steps, GuidanceScale = r.GuidanceScale, Seeds = [.. r.Seeds], Count = r.Count,
        MaxSequenceLength = r.MaxSequenceLength, UseT5 = r.UseT5, InitImage = r.InitImage, Strength = r.Strength, Latents = r.Latents,
        OutputType = r.OutputType, ClipSkip = r.ClipSkip, CfgMode = r.CfgMode, Sigmas = r.Sigmas?.ToArray(), PosteriorSampling = r.PosteriorSampling,
        ResumeStep = r.Resume?.Step ?? 0, ResumeLatents = r.Resume?.Latents,
    };
}
