using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Sd3Mesh.Pipeline.Imaging;

/// <summary>
/// Writes 8-bit RGB PNG files (ISO/IEC 15948): IHDR, text chunks, one zlib-compressed IDAT, IEND. Each row
/// gets the filter (None, Sub, Up, Average, Paeth) with the smallest sum of absolute filtered values
/// (the "minimum sum of absolute differences" heuristic libpng recommends). Text that Latin-1 can hold
/// goes in tEXt, other text in uncompressed iTXt (UTF-8), as PIL does. Output is deterministic.
/// </summary>
public static class PngEncoder
{
    public static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    public static byte[] Encode(RgbImage image, IEnumerable<KeyValuePair<string, string>>? text = null)
    {
        using var output = new MemoryStream();
        output.Write(Signature);

        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)image.Width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)image.Height);
        ihdr[8] = 8;  // bit depth
        ihdr[9] = 2;  // colour type: RGB
        ihdr[10] = 0; // deflate
        ihdr[11] = 0; // adaptive filtering
        ihdr[12] = 0; // no interlace
        WriteChunk(output, "IHDR", ihdr);

        foreach (var (key, value) in text ?? [])
            WriteChunk(output, IsLatin1(value) ? "tEXt" : "iTXt", TextChunk(key, value));

        WriteChunk(output, "IDAT", Compress(Filter(image)));
        WriteChunk(output, "IEND", []);
        return output.ToArray();
    }

    private static byte[] TextChunk(string key, string value)
    {
        if (key.Length is < 1 or > 79 || !IsLatin1(key) || key.Contains('\0') || key.StartsWith(' ') || key.EndsWith(' '))
            throw new ArgumentException($"'{key}' is not a valid PNG text keyword (1-79 Latin-1 characters, no leading/trailing space)");
        value = value.Replace("\0", "");
        var latin1 = Encoding.Latin1;
        if (IsLatin1(value))
            return [.. latin1.GetBytes(key), 0, .. latin1.GetBytes(value)];
        // iTXt: keyword, NUL, compression flag 0, method 0, empty language tag, NUL, empty translated keyword, NUL, UTF-8 text
        return [.. latin1.GetBytes(key), 0, 0, 0, 0, 0, .. Encoding.UTF8.GetBytes(value)];
    }

    private static bool IsLatin1(string s)
    {
        foreach (char c in s) if (c > 0xFF) return false;
        return true;
    }

    private static byte[] Filter(RgbImage image)
    {
        int stride = image.Width * 3;
        var filtered = new byte[(stride + 1) * image.Height];
        var candidates = new byte[5][];
        for (int f = 0; f < 5; f++) candidates[f] = new byte[stride];
        var zero = new byte[stride];
        for (int y = 0; y < image.Height; y++)
        {
            var row = image.Pixels.AsSpan(y * stride, stride);
            var prior = y == 0 ? zero : image.Pixels.AsSpan((y - 1) * stride, stride);
            int best = 0;
            long bestCost = long.MaxValue;
            for (int f = 0; f < 5; f++)
            {
                var c = candidates[f];
                long cost = 0;
                for (int i = 0; i < stride; i++)
                {
                    byte left = i >= 3 ? row[i - 3] : (byte)0;
                    byte up = prior[i];
                    byte upLeft = i >= 3 ? prior[i - 3] : (byte)0;
                    byte predictor = f switch
                    {
                        0 => 0,
                        1 => left,
                        2 => up,
                        3 => (byte)((left + up) >> 1),
                        _ => Paeth(left, up, upLeft),
                    };
                    byte v = (byte)(row[i] - predictor);
                    c[i] = v;
                    cost += Math.Abs((int)(sbyte)v);
                }
                if (cost < bestCost) { bestCost = cost; best = f; }
            }
            filtered[y * (stride + 1)] = (byte)best;
            candidates[best].CopyTo(filtered, y * (stride + 1) + 1);
        }
        return filtered;
    }

    internal static byte Paeth(byte a, byte b, byte c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        if (pa <= pb && pa <= pc) return a;
        return pb <= pc ? b : c;
    }

    private static byte[] Compress(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.Optimal, leaveOpen: true)) z.Write(data);
        return ms.ToArray();
    }

    private static void WriteChunk(Stream output, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> header = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)data.Length);
        Encoding.ASCII.GetBytes(type, header[4..]);
        output.Write(header);
        output.Write(data);
        uint crc = Crc32.Append(Crc32.Compute(header[4..]), data);
        Span<byte> trailer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(trailer, crc);
        output.Write(trailer);
    }
}
