using Grpc.Core;
using Sd3Mesh.Protos.V1;
using GenerationApi = Sd3Mesh.Protos.V1.Generation;

namespace Sd3Mesh.Server.Generation;

/// <summary>Reading GetImage's chunked stream back into one image.</summary>
public static class ImageDownloads
{
    /// <summary>An image's bytes, reassembled from GetImage's chunks (which must be contiguous and add up).</summary>
    public static async Task<(string MediaType, byte[] Data)> DownloadImageAsync(this GenerationApi.GenerationClient client, string imageId,
        uint chunkSize = 0, CancellationToken cancellationToken = default)
    {
        using var call = client.GetImage(new GetImageRequest { ImageId = imageId, ChunkSize = chunkSize }, cancellationToken: cancellationToken);
        string mediaType = "";
        byte[]? data = null;
        ulong received = 0;
        await foreach (var chunk in call.ResponseStream.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            if (data is null)
            {
                mediaType = chunk.MediaType;
                if (chunk.TotalSize > int.MaxValue) throw new InvalidDataException($"image '{imageId}' of {chunk.TotalSize} bytes is too large");
                data = new byte[chunk.TotalSize];
            }
            if (chunk.Offset != received || received + (ulong)chunk.Data.Length > (ulong)data.Length)
                throw new InvalidDataException($"image '{imageId}': a chunk at offset {chunk.Offset} of {chunk.Data.Length} bytes does not follow the {received} bytes received of {data.Length}");
            chunk.Data.Span.CopyTo(data.AsSpan((int)received));
            received += (ulong)chunk.Data.Length;
        }
        if (data is null || received != (ulong)data.Length)
            throw new InvalidDataException($"image '{imageId}' ended after {received} of {data?.Length ?? 0} bytes");
        return (mediaType, data);
    }
}
