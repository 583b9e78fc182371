using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Sd3Mesh.Pipeline.Imaging;

/// <summary>A decoded PNG: its pixels as 8-bit RGB and its text chunks.</summary>
public sealed record PngImage(RgbImage Image, IReadOnlyDictionary<string, string> Text, string ColorFormat);

/// <summary>
/// Reads PNG files for image-to-image inputs. Supported: 8-bit grayscale, grayscale+alpha, RGB, RGBA and
/// 8-bit palette images, non-interlaced, every filter type; alpha is dropped (as PIL's convert("RGB")
/// does, without compositing). Refused with a message naming the format: 16-bit and 1/2/4-bit samples,
/// Adam7 interlacing, non-PNG files (JPEG, GIF, WebP, BMP are recognised by name). Chunk CRCs are checked.
/// </summary>
public static class PngDecoder
{
    public const int MaxDimension = 16384;

    /// <summary>
    /// The most a compressed text chunk (zTXt, compressed iTXt) may inflate to, as PIL's MAX_TEXT_CHUNK: the server
    /// decodes untrusted images, and a few kilobytes of deflated zeros would otherwise expand to gigabytes.
    /// </summary>
    public const int MaxTextBytes = 1 << 20;

    public static PngImage Read(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"cannot read '{path}': {e.Message}", e);
        }
        try { return Decode(bytes); }
        catch (InvalidDataException e) { throw new InvalidDataException($"'{path}': {e.Message}", e); }
    }

    public static PngImage Decode(ReadOnlySpan<byte> data)
    {
        if (!data.StartsWith(PngEncoder.Signature)) throw new InvalidDataException(NotPng(data));
        int pos = 8;
        int width = 0, height = 0, bitDepth = 0, colorType = -1, interlace = 0;
        byte[]? palette = null;
        var idat = new MemoryStream();
        var text = new Dictionary<string, string>(StringComparer.Ordinal);
        bool seenEnd = false;
        while (pos + 12 <= data.Length && !seenEnd)
        {
            uint length = BinaryPrimitives.ReadUInt32BigEndian(data[pos..]);
            if (length > int.MaxValue || pos + 12 + (long)length > data.Length)
                throw new InvalidDataException($"PNG chunk at byte {pos} runs past the end of the file (truncated file?)");
            var type = Encoding.ASCII.GetString(data.Slice(pos + 4, 4));
            var body = data.Slice(pos + 8, (int)length);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(data[(pos + 8 + (int)length)..]);
            if (Crc32.Append(Crc32.Compute(data.Slice(pos + 4, 4)), body) != crc)
                throw new InvalidDataException($"PNG chunk {type} at byte {pos} has a bad CRC (corrupt file)");
            switch (type)
            {
                case "IHDR":
                    if (length != 13) throw new InvalidDataException("PNG IHDR chunk is not 13 bytes");
                    width = (int)BinaryPrimitives.ReadUInt32BigEndian(body);
                    height = (int)BinaryPrimitives.ReadUInt32BigEndian(body[4..]);
                    bitDepth = body[8];
                    colorType = body[9];
                    interlace = body[12];
                    CheckHeader(width, height, bitDepth, colorType, interlace);
                    break;
                case "PLTE": palette = body.ToArray(); break;
                case "IDAT": idat.Write(body); break;
                case "IEND": seenEnd = true; break;
                case "tEXt": ReadText(body, text); break;
                case "iTXt": ReadInternationalText(body, text); break;
                case "zTXt": ReadCompressedText(body, text); break;
            }
            pos += 12 + (int)length;
        }
        if (colorType < 0) throw new InvalidDataException("PNG has no IHDR chunk");
        if (idat.Length == 0) throw new InvalidDataException("PNG has no image data (IDAT)");
        if (colorType == 3 && palette is null) throw new InvalidDataException("palette PNG has no PLTE chunk");

        int channels = colorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4, _ => 0 };
        int stride = width * channels;
        var raw = Inflate(idat.ToArray(), (long)(stride + 1) * height);
        Unfilter(raw, stride, height, channels);
        var rgb = ToRgb(raw, width, height, channels, colorType, palette);
        return new PngImage(new RgbImage(width, height, rgb), text, FormatName(colorType, bitDepth));
    }

    private static void CheckHeader(int width, int height, int bitDepth, int colorType, int interlace)
    {
        if (width < 1 || height < 1 || width > MaxDimension || height > MaxDimension)
            throw new InvalidDataException($"PNG size {width}x{height} is outside 1..{MaxDimension} pixels per side");
        if (colorType is not (0 or 2 or 3 or 4 or 6)) throw new InvalidDataException($"PNG colour type {colorType} is invalid");
        string format = FormatName(colorType, bitDepth);
        if (bitDepth == 16) throw new InvalidDataException($"{format} PNG is not supported: save it as 8-bit RGB");
        if (bitDepth != 8) throw new InvalidDataException($"{format} PNG is not supported: only 8-bit samples are read; save it as 8-bit RGB");
        if (interlace != 0) throw new InvalidDataException($"Adam7-interlaced {format} PNG is not supported: save it without interlacing");
    }

    private static string FormatName(int colorType, int bitDepth) => colorType switch
    {
        0 => $"{bitDepth}-bit grayscale",
        2 => $"{bitDepth}-bit RGB",
        3 => $"{bitDepth}-bit palette",
        4 => $"{bitDepth}-bit grayscale+alpha",
        6 => $"{bitDepth}-bit RGBA",
        _ => $"colour type {colorType}",
    };

    private static string NotPng(ReadOnlySpan<byte> data)
    {
        string? kind = data switch
        {
            [0xFF, 0xD8, 0xFF, ..] => "a JPEG",
            [(byte)'G', (byte)'I', (byte)'F', (byte)'8', ..] => "a GIF",
            [(byte)'R', (byte)'I', (byte)'F', (byte)'F', _, _, _, _, (byte)'W', (byte)'E', (byte)'B', (byte)'P', ..] => "a WebP",
            [(byte)'B', (byte)'M', ..] => "a BMP",
            [] => "an empty file",
            _ => null,
        };
        return kind is null ? "not a PNG file (bad signature); convert it to PNG" : $"{kind} file, not a PNG: convert it to PNG";
    }

    private static byte[] Inflate(byte[] compressed, long expected)
    {
        var result = new byte[expected];
        try
        {
            using var z = new ZLibStream(new MemoryStream(compressed), CompressionMode.Decompress);
            int read = 0;
            while (read < result.Length)
            {
                int n = z.Read(result, read, result.Length - read);
                if (n == 0) break;
                read += n;
            }
            if (read != result.Length) throw new InvalidDataException($"PNG image data holds {read} bytes, {expected} are needed (truncated?)");
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith("PNG", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"PNG image data is not valid zlib data: {e.Message}", e);
        }
        return result;
    }

    private static void Unfilter(byte[] raw, int stride, int height, int bpp)
    {
        for (int y = 0; y < height; y++)
        {
            int start = y * (stride + 1);
            byte filter = raw[start];
            var row = raw.AsSpan(start + 1, stride);
            var prior = y == 0 ? Span<byte>.Empty : raw.AsSpan(start - stride, stride);
            for (int i = 0; i < stride; i++)
            {
                int a = i >= bpp ? row[i - bpp] : 0;
                int b = y > 0 ? prior[i] : 0;
                int c = y > 0 && i >= bpp ? prior[i - bpp] : 0;
                row[i] += filter switch
                {
                    0 => 0,
                    1 => (byte)a,
                    2 => (byte)b,
                    3 => (byte)((a + b) >> 1),
                    4 => PngEncoder.Paeth((byte)a, (byte)b, (byte)c),
                    _ => throw new InvalidDataException($"PNG row {y} uses unknown filter type {filter}"),
                };
            }
        }
    }

    private static byte[] ToRgb(byte[] raw, int width, int height, int channels, int colorType, byte[]? palette)
    {
        var rgb = new byte[width * height * 3];
        int stride = width * channels;
        for (int y = 0; y < height; y++)
        {
            int src = y * (stride + 1) + 1;
            for (int x = 0; x < width; x++)
            {
                int s = src + x * channels, d = (y * width + x) * 3;
                switch (colorType)
                {
                    case 0 or 4: rgb[d] = rgb[d + 1] = rgb[d + 2] = raw[s]; break;
                    case 2 or 6: rgb[d] = raw[s]; rgb[d + 1] = raw[s + 1]; rgb[d + 2] = raw[s + 2]; break;
                    case 3:
                        int p = raw[s] * 3;
                        if (p + 2 >= palette!.Length) throw new InvalidDataException($"PNG palette index {raw[s]} is outside the palette of {palette.Length / 3}");
                        rgb[d] = palette[p]; rgb[d + 1] = palette[p + 1]; rgb[d + 2] = palette[p + 2];
                        break;
                }
            }
        }
        return rgb;
    }

    private static void ReadText(ReadOnlySpan<byte> body, Dictionary<string, string> text)
    {
        int nul = body.IndexOf((byte)0);
        if (nul <= 0) return;
        text[Encoding.Latin1.GetString(body[..nul])] = Encoding.Latin1.GetString(body[(nul + 1)..]);
    }

    private static void ReadCompressedText(ReadOnlySpan<byte> body, Dictionary<string, string> text)
    {
        int nul = body.IndexOf((byte)0);
        if (nul <= 0 || nul + 2 > body.Length) return;
        var key = Encoding.Latin1.GetString(body[..nul]);
        text[key] = Encoding.Latin1.GetString(InflateText(key, body[(nul + 2)..]));
    }

    /// <summary>A text chunk's zlib data, refused once it inflates past <see cref="MaxTextBytes"/>.</summary>
    private static byte[] InflateText(string key, ReadOnlySpan<byte> compressed)
    {
        using var z = new ZLibStream(new MemoryStream(compressed.ToArray()), CompressionMode.Decompress);
        using var output = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int n;
        while ((n = z.Read(buffer)) > 0)
        {
            if (output.Length + n > MaxTextBytes)
                throw new InvalidDataException($"PNG text chunk '{key}' inflates to more than {MaxTextBytes >> 20} MiB");
            output.Write(buffer, 0, n);
        }
        return output.ToArray();
    }

    private static void ReadInternationalText(ReadOnlySpan<byte> body, Dictionary<string, string> text)
    {
        int nul = body.IndexOf((byte)0);
        if (nul <= 0 || nul + 3 > body.Length) return;
        var key = Encoding.Latin1.GetString(body[..nul]);
        bool compressed = body[nul + 1] == 1;
        var rest = body[(nul + 3)..];
        int lang = rest.IndexOf((byte)0);
        if (lang < 0) return;
        rest = rest[(lang + 1)..];
        int translated = rest.IndexOf((byte)0);
        if (translated < 0) return;
        var value = rest[(translated + 1)..];
        text[key] = Encoding.UTF8.GetString(compressed ? InflateText(key, value) : value);
    }
}
