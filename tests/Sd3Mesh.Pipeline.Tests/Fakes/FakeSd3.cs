using Sd3Mesh.Pipeline.Denoising;
using Sd3Mesh.Pipeline.Sampling;
using Sd3Mesh.Pipeline.Tests.Support;
using Sd3Mesh.Models.Tokenizers;

namespace Sd3Mesh.Pipeline.Tests.Fakes;

/// <summary>A tiny SD3 made of the fakes: CLIP widths 8 and 12, pooled 4 + 6, T5/joint width 24, 4 latent channels.</summary>
public sealed class FakeSd3
{
    public const int ClipLWidth = 8, ClipGWidth = 12, PooledL = 4, PooledG = 6, Joint = 24, Channels = 4;

    private static readonly Lazy<Sd3Tokenizers> Tokenizers = new(() => Sd3Tokenizers.Load(TokenizerFolders.Root));

    public FakeClipEncoder ClipL { get; } = new(ClipLWidth, PooledL);
    public FakeClipEncoder ClipG { get; } = new(ClipGWidth, PooledG);
    public FakeT5Encoder T5 { get; } = new(Joint);
    public FakeTransformer Denoiser { get; } = new();
    public FakeTransformer? UncondDenoiser { get; init; }
    public FakeVaeDecoder Decoder { get; } = new();
    public FakeVaeEncoder Encoder { get; } = new(Channels);

    public static TextTokenizer TokenizerL => Tokenizers.Value.Clip;
    public static TextTokenizer TokenizerG => Tokenizers.Value.Clip2;
    public static TextTokenizer TokenizerT5 => Tokenizers.Value.T5!;

    public Sd3Components Components(bool withT5 = true) => new()
    {
        Tokenizer = TokenizerL,
        Tokenizer2 = TokenizerG,
        Tokenizer3 = withT5 ? TokenizerT5 : null,
        TextEncoder = ClipL,
        TextEncoder2 = ClipG,
        TextEncoder3 = withT5 ? T5 : null,
        Transformer = new HostDenoiser(Denoiser, UncondDenoiser),
        VaeDecoder = Decoder,
        VaeEncoder = Encoder,
        Scheduler = FlowMatchSchedulerConfig.Sd3Medium,
        Model = new Sd3ModelConfig { JointAttentionDim = Joint, LatentChannels = Channels, ClipLayers = 4, Clip2Layers = 6 },
        ModelName = "fake-sd3",
    };
}
