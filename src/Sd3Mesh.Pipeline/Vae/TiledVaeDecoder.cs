using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Vae;

/// <summary>
/// diffusers' AutoencoderKL.tiled_decode: latents larger than the tile are decoded as overlapping tiles
/// (tile_latent_min_size = vae sample_size / 8, stride 75 % of it), each tile blended linearly into the
/// tile above (blend_v) and to its left (blend_h) over 25 % of the tile, then cropped to the stride.
/// Blends use the already blended neighbours, as diffusers' in-place updates do. Only the previous row of
/// decoded tiles is kept, so peak memory is bounded by two tile rows plus the output, whatever the size.
/// Latents that fit in one tile are decoded in one call, as without tiling.
/// </summary>
public sealed class TiledVaeDecoder
{
    private readonly IVaeDecoder _decoder;

    public TiledVaeDecoder(IVaeDecoder decoder, int tileLatentSize = 128, double overlapFactor = 0.25, int scaleFactor = 8)
    {
        if (tileLatentSize < 2) throw new ArgumentOutOfRangeException(nameof(tileLatentSize));
        if (overlapFactor is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(overlapFactor));
        _decoder = decoder;
        TileLatentSize = tileLatentSize;
        ScaleFactor = scaleFactor;
        TileSampleSize = tileLatentSize * scaleFactor;
        Stride = (int)(tileLatentSize * (1 - overlapFactor));
        BlendExtent = (int)(TileSampleSize * overlapFactor);
        RowLimit = TileSampleSize - BlendExtent;
    }

    public int TileLatentSize { get; }
    public int TileSampleSize { get; }
    public int ScaleFactor { get; }
    /// <summary>overlap_size: the latent stride between tiles.</summary>
    public int Stride { get; }
    public int BlendExtent { get; }
    public int RowLimit { get; }

    /// <summary>Tiles decoded by the last call (1 when untiled).</summary>
    public int LastTileCount { get; private set; }

    public bool NeedsTiling(Tensor latents) => latents.Shape[2] > TileLatentSize || latents.Shape[3] > TileLatentSize;

    public async Task<Tensor> DecodeAsync(Tensor latents, CancellationToken cancellationToken = default)
    {
        if (!NeedsTiling(latents))
        {
            LastTileCount = 1;
            return await _decoder.DecodeAsync(latents, cancellationToken).ConfigureAwait(false);
        }
        int h = (int)latents.Shape[2], w = (int)latents.Shape[3];
        var src = latents.AsDType(DType.Float32);
        int batch = (int)src.Shape[0], channels = (int)src.Shape[1];

        float[]? output = null;
        int outChannels = 0, outH = h * ScaleFactor, outW = w * ScaleFactor;
        Tile[]? previousRow = null;
        int rowOffset = 0, tiles = 0;
        for (int i = 0; i < h; i += Stride)
        {
            var row = new List<Tile>();
            for (int j = 0; j < w; j += Stride)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var crop = Crop(src, batch, channels, h, w, i, j, Math.Min(TileLatentSize, h - i), Math.Min(TileLatentSize, w - j));
                var decoded = (await _decoder.DecodeAsync(crop, cancellationToken).ConfigureAwait(false)).AsDType(DType.Float32);
                tiles++;
                var tile = new Tile(decoded.ToArray<float>(), (int)decoded.Shape[1], (int)decoded.Shape[2], (int)decoded.Shape[3]);
                if (previousRow is not null) BlendVertical(previousRow[row.Count], tile, batch);
                if (row.Count > 0) BlendHorizontal(row[^1], tile, batch);
                row.Add(tile);
            }

            outChannels = row[0].Channels;
            output ??= new float[(long)batch * outChannels * outH * outW];
            int colOffset = 0, rowHeight = 0;
            foreach (var tile in row)
            {
                int cropH = Math.Min(RowLimit, tile.Height), cropW = Math.Min(RowLimit, tile.Width);
                Paste(tile, output, batch, outChannels, outH, outW, rowOffset, colOffset, cropH, cropW);
                colOffset += cropW;
                rowHeight = cropH;
            }
            rowOffset += rowHeight;
            previousRow = row.ToArray();
        }
        LastTileCount = tiles;
        return Tensor.FromArray(output!, batch, outChannels, outH, outW);
    }

    private sealed record Tile(float[] Data, int Channels, int Height, int Width);

    private static Tensor Crop(Tensor src, int batch, int channels, int h, int w, int top, int left, int th, int tw)
    {
        var s = src.AsSpan<float>();
        var d = new float[batch * channels * th * tw];
        for (int bc = 0; bc < batch * channels; bc++)
            for (int y = 0; y < th; y++)
                s.Slice(bc * h * w + (top + y) * w + left, tw).CopyTo(d.AsSpan(bc * th * tw + y * tw, tw));
        return Tensor.FromArray(d, batch, channels, th, tw);
    }

    /// <summary>b's first rows blend from a's last rows: a*(1 - y/e) + b*(y/e).</summary>
    private void BlendVertical(Tile a, Tile b, int batch)
    {
        int extent = Math.Min(Math.Min(a.Height, b.Height), BlendExtent);
        int width = Math.Min(a.Width, b.Width);
        for (int bc = 0; bc < batch * b.Channels; bc++)
            for (int y = 0; y < extent; y++)
            {
                float wb = (float)((double)y / extent), wa = (float)(1 - (double)y / extent);
                int aRow = bc * a.Height * a.Width + (a.Height - extent + y) * a.Width;
                int bRow = bc * b.Height * b.Width + y * b.Width;
                for (int x = 0; x < width; x++)
                    b.Data[bRow + x] = a.Data[aRow + x] * wa + b.Data[bRow + x] * wb;
            }
    }

    /// <summary>b's first columns blend from a's last columns: a*(1 - x/e) + b*(x/e).</summary>
    private void BlendHorizontal(Tile a, Tile b, int batch)
    {
        int extent = Math.Min(Math.Min(a.Width, b.Width), BlendExtent);
        int height = Math.Min(a.Height, b.Height);
        for (int bc = 0; bc < batch * b.Channels; bc++)
            for (int y = 0; y < height; y++)
            {
                int aRow = bc * a.Height * a.Width + y * a.Width;
                int bRow = bc * b.Height * b.Width + y * b.Width;
                for (int x = 0; x < extent; x++)
                {
                    float wb = (float)((double)x / extent), wa = (float)(1 - (double)x / extent);
                    b.Data[bRow + x] = a.Data[aRow + a.Width - extent + x] * wa + b.Data[bRow + x] * wb;
                }
            }
    }

    private static void Paste(Tile tile, float[] output, int batch, int channels, int outH, int outW, int top, int left, int cropH, int cropW)
    {
        for (int bc = 0; bc < batch * channels; bc++)
            for (int y = 0; y < cropH; y++)
                tile.Data.AsSpan(bc * tile.Height * tile.Width + y * tile.Width, cropW)
                    .CopyTo(output.AsSpan(bc * outH * outW + (top + y) * outW + left, cropW));
    }
}
