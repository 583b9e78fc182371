using Sd3Mesh.Models;
using Sd3Mesh.Pipeline.Onnx;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Devices;
using Sd3Mesh.Runtime.Catalog;
using Sd3Mesh.Runtime.Metrics;
using Sd3Mesh.Runtime.Placement;
using Sd3Mesh.Runtime.Tensors;

namespace Sd3Mesh.Runtime.Grains;

[DevicePlacement]
public sealed class ClipEncoderGrain(ModelCatalog catalog, DeviceMemories memories, ITensorExchange tensors, RuntimeMetrics metrics,
    GrainReports reports)
    : SubmoduleGrain<LoadedStage<OnnxClipTextEncoder>>(catalog, memories, tensors, metrics, reports), IClipEncoderGrain
{
    protected override Task<LoadedStage<OnnxClipTextEncoder>> LoadAsync(CancellationToken cancellationToken)
    {
        var submodule = Placed.Submodule == PlacedSubmodule.TextEncoder ? Submodule.TextEncoder : Submodule.TextEncoder2;
        var session = Catalog.Folder.CreateSession(submodule, LocalDevice, Catalog.SessionOptions, new OrtRunClock());
        return LoadedStage<OnnxClipTextEncoder>.LoadAsync(session, s => new OnnxClipTextEncoder(s), cancellationToken);
    }

    public Task<ClipEncodingRefs> Encode(TensorRef inputIds, int hiddenStateFromEnd, CancellationToken cancellationToken = default) =>
        CallAsync(async loaded =>
        {
            var ids = await Tensors.ResolveAsync(inputIds, cancellationToken);
            var encoding = await loaded.Stage.EncodeAsync(ids, hiddenStateFromEnd, cancellationToken);
            return new ClipEncodingRefs(Tensors.Publish(encoding.Pooled), Tensors.Publish(encoding.HiddenState));
        }, cancellationToken);
}

[DevicePlacement]
public sealed class T5EncoderGrain(ModelCatalog catalog, DeviceMemories memories, ITensorExchange tensors, RuntimeMetrics metrics,
    GrainReports reports)
    : SubmoduleGrain<LoadedStage<OnnxT5TextEncoder>>(catalog, memories, tensors, metrics, reports), IT5EncoderGrain
{
    protected override Task<LoadedStage<OnnxT5TextEncoder>> LoadAsync(CancellationToken cancellationToken) =>
        LoadedStage<OnnxT5TextEncoder>.LoadAsync(
            Catalog.Folder.CreateSession(Submodule.TextEncoder3, LocalDevice, Catalog.SessionOptions, new OrtRunClock()),
            s => new OnnxT5TextEncoder(s), cancellationToken);

    public Task<TensorRef> Encode(TensorRef inputIds, CancellationToken cancellationToken = default) =>
        CallAsync(async loaded =>
        {
            var ids = await Tensors.ResolveAsync(inputIds, cancellationToken);
            return Tensors.Publish(await loaded.Stage.EncodeAsync(ids, cancellationToken));
        }, cancellationToken);
}

/// <summary>The VAE's decoder and, where the model has one, encoder (loaded together: they are one model in diffusers).</summary>
public sealed class VaeSessions(LoadedStage<OnnxVaeDecoder> decoder, LoadedStage<OnnxVaeEncoder>? encoder) : IDisposable
{
    public OnnxVaeDecoder Decoder => decoder.Stage;
    public OnnxVaeEncoder? Encoder => encoder?.Stage;

    public void Dispose()
    {
        decoder.Dispose();
        encoder?.Dispose();
    }
}

[DevicePlacement]
public sealed class VaeGrain(ModelCatalog catalog, DeviceMemories memories, ITensorExchange tensors, RuntimeMetrics metrics,
    GrainReports reports)
    : SubmoduleGrain<VaeSessions>(catalog, memories, tensors, metrics, reports), IVaeGrain
{
    protected override async Task<VaeSessions> LoadAsync(CancellationToken cancellationToken)
    {
        var folder = Catalog.Folder;
        var decoder = await LoadedStage<OnnxVaeDecoder>.LoadAsync(
            folder.CreateSession(Submodule.VaeDecoder, LocalDevice, Catalog.SessionOptions, new OrtRunClock()), s => new OnnxVaeDecoder(s), cancellationToken);
        if (!folder.Repository.Has(Submodule.VaeEncoder)) return new VaeSessions(decoder, null);
        try
        {
            var encoder = await LoadedStage<OnnxVaeEncoder>.LoadAsync(
                folder.CreateSession(Submodule.VaeEncoder, LocalDevice, Catalog.SessionOptions, new OrtRunClock()), s => new OnnxVaeEncoder(s), cancellationToken);
            return new VaeSessions(decoder, encoder);
        }
        catch
        {
            decoder.Dispose();
            throw;
        }
    }

    public Task<TensorRef> Decode(TensorRef latents, CancellationToken cancellationToken = default) =>
        CallAsync(async vae => Tensors.Publish(await vae.Decoder.DecodeAsync(await Tensors.ResolveAsync(latents, cancellationToken), cancellationToken)),
            cancellationToken);

    public Task<TensorRef> Encode(TensorRef pixels, CancellationToken cancellationToken = default) =>
        CallAsync(async vae =>
        {
            var encoder = vae.Encoder ?? throw new InvalidOperationException($"{Placed.Key}: the model has no vae_encoder/, so image-to-image is not available");
            return Tensors.Publish(await encoder.EncodeAsync(await Tensors.ResolveAsync(pixels, cancellationToken), cancellationToken));
        }, cancellationToken);
}
