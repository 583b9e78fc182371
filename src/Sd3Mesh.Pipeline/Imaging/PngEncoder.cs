using System.Buffers.Binary;
using System.Numerics;
using System.IO.Compression;
using System.Text;

namespace Sd3Mesh.Pipeline.Imaging;

/// <summary>
/// Writes 8-bit RGB PNG files (ISO/IEC 15948): IHDR, text chunks, one zlib-compressed IDAT, IEND (rows filtered and
/// deflated in parallel pieces, the bytes the same on any number of cores). Each row
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

    /// <summary>
    /// Filters every row (its filter type byte, then the filtered bytes). Rows are independent of each other's filter
    /// choice (each predicts from the previous row's raw pixels), so blocks of rows are filtered in parallel; each of the
    /// five candidates is its own tight loop. The output is the same whatever the thread count.
    /// </summary>
    private static byte[] Filter(RgbImage image)
    {
        int stride = image.Width * 3;
        var filtered = new byte[(stride + 1) * image.Height];
        const int RowsPerBlock = 32;
        int blocks = (image.Height + RowsPerBlock - 1) / RowsPerBlock;
        Parallel.For(0, blocks, () => new FilterRows(stride), (block, _, rows) =>
        {
            for (int y = block * RowsPerBlock; y < Math.Min(image.Height, (block + 1) * RowsPerBlock); y++)
                rows.FilterRow(image.Pixels, y, stride, filtered);
            return rows;
        }, _ => { });
        return filtered;
    }

    /// <summary>One thread's candidate rows for the five filter types.</summary>
    private sealed class FilterRows(int stride)
    {
        private readonly byte[][] _candidates = [new byte[stride], new byte[stride], new byte[stride], new byte[stride], new byte[stride]];
        private readonly byte[] _zero = new byte[stride];

        public void FilterRow(byte[] pixels, int y, int stride, byte[] filtered)
        {
            ReadOnlySpan<byte> row = pixels.AsSpan(y * stride, stride);
            ReadOnlySpan<byte> prior = y == 0 ? _zero : pixels.AsSpan((y - 1) * stride, stride);
            Span<byte> none = _candidates[0], sub = _candidates[1], up = _candidates[2], average = _candidates[3], paeth = _candidates[4];
            int head = Math.Min(3, stride); // the first pixel has no left neighbour (0)
            row.CopyTo(none);
            row[..head].CopyTo(sub);
            Subtract(row[head..], row[..^head], sub[head..]);
            Subtract(row, prior, up);
            for (int i = 0; i < head; i++) average[i] = (byte)(row[i] - (prior[i] >> 1));
            Average(row[head..], row[..^head], prior[head..], average[head..]);
            for (int i = 0; i < head; i++) paeth[i] = (byte)(row[i] - prior[i]); // Paeth(0, up, 0) is up
            for (int i = head; i < stride; i++) paeth[i] = (byte)(row[i] - Paeth(row[i - 3], prior[i], prior[i - 3]));
            int best = 0;
            long bestCost = long.MaxValue;
            for (int f = 0; f < 5; f++)
            {
                long cost = Cost(_candidates[f]);
                if (cost < bestCost) { bestCost = cost; best = f; }
            }
            filtered[y * (stride + 1)] = (byte)best;
            _candidates[best].CopyTo(filtered, y * (stride + 1) + 1);
        }

        /// <summary><paramref name="result"/> = <paramref name="a"/> - <paramref name="b"/>, modulo 256.</summary>
        private static void Subtract(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, Span<byte> result)
        {
            int i = 0;
            for (; i <= a.Length - Vector<byte>.Count; i += Vector<byte>.Count)
                (new Vector<byte>(a[i..]) - new Vector<byte>(b[i..])).CopyTo(result[i..]);
            for (; i < a.Length; i++) result[i] = (byte)(a[i] - b[i]);
        }

        /// <summary><paramref name="result"/> = <paramref name="x"/> - floor((<paramref name="left"/> + <paramref name="up"/>) / 2), modulo 256.</summary>
        private static void Average(ReadOnlySpan<byte> x, ReadOnlySpan<byte> left, ReadOnlySpan<byte> up, Span<byte> result)
        {
            int i = 0;
            for (; i <= x.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                var l = new Vector<byte>(left[i..]);
                var u = new Vector<byte>(up[i..]);
                // floor((l + u) / 2) without overflowing a byte: (l & u) + ((l ^ u) >> 1)
                (new Vector<byte>(x[i..]) - ((l & u) + Vector.ShiftRightLogical(l ^ u, 1))).CopyTo(result[i..]);
            }
            for (; i < x.Length; i++) result[i] = (byte)(x[i] - ((left[i] + up[i]) >> 1));
        }

        /// <summary>The sum of the absolute values of the filtered bytes read as signed (|-128| = 128).</summary>
        private static long Cost(ReadOnlySpan<byte> filtered)
        {
            long cost = 0;
            int i = 0;
            while (i <= filtered.Length - Vector<byte>.Count)
            {
                // Magnitudes as bytes (Abs of sbyte -128 wraps to 0x80, which is 128), summed in 16-bit lanes: 256 vectors
                // at most add 2 x 255 per lane pair, below 65536.
                var sums = Vector<ushort>.Zero;
                for (int n = 0; n < 256 && i <= filtered.Length - Vector<byte>.Count; n++, i += Vector<byte>.Count)
                {
                    var magnitudes = Vector.AsVectorByte(Vector.Abs(Vector.AsVectorSByte(new Vector<byte>(filtered[i..]))));
                    Vector.Widen(magnitudes, out var low, out var high);
                    sums += low + high;
                }
                Vector.Widen(sums, out var lo32, out var hi32);
                cost += Vector.Sum(lo32 + hi32);
            }
            for (; i < filtered.Length; i++) cost += Math.Abs((int)(sbyte)filtered[i]);
            return cost;
        }
    }

    internal static byte Paeth(byte a, byte b, byte c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        if (pa <= pb && pa <= pc) return a;
        return pb <= pc ? b : c;
    }

    /// <summary>The size of the pieces <see cref="Compress"/> deflates apart.</summary>
    internal const int CompressionPiece = 256 * 1024;

    /// <summary>
    /// A zlib stream (RFC 1950) of <paramref name="data"/>, deflated in fixed pieces at once (pigz's scheme): each piece
    /// a raw deflate stream (level 6, as zlib's default) ended by a sync flush, so the pieces' bytes concatenate into one
    /// deflate stream; the last piece ends it; then the Adler-32 of all the data. A 1024x1024 image is 12 pieces: its
    /// compression takes a twelfth of the time on enough cores, and the bytes do not depend on the thread count.
    /// </summary>
    internal static byte[] Compress(byte[] data)
    {
        int pieces = Math.Max(1, (data.Length + CompressionPiece - 1) / CompressionPiece);
        var parts = new byte[pieces][];
        Parallel.For(0, pieces, i =>
        {
            int start = i * CompressionPiece, length = Math.Min(CompressionPiece, data.Length - start);
            using var ms = new MemoryStream();
            var deflate = new DeflateStream(ms, CompressionLevel.Optimal, leaveOpen: true);
            deflate.Write(data, start, length);
            if (i < pieces - 1)
            {
                deflate.Flush(); // Z_SYNC_FLUSH: the piece ends on a byte boundary with no final block
                parts[i] = ms.ToArray();
                deflate.Dispose();
            }
            else
            {
                deflate.Dispose(); // the final block
                parts[i] = ms.ToArray();
            }
        });
        var output = new byte[2 + parts.Sum(p => p.Length) + 4];
        output[0] = 0x78; // deflate, 32 KiB window
        output[1] = 0x9C; // default level; (0x789C % 31 == 0)
        int at = 2;
        foreach (var part in parts)
        {
            part.CopyTo(output, at);
            at += part.Length;
        }
        BinaryPrimitives.WriteUInt32BigEndian(output.AsSpan(at), Adler32(data));
        return output;
    }

    internal static uint Adler32(ReadOnlySpan<byte> data)
    {
        const uint Mod = 65521;
        const int Run = 5552; // the most bytes before the sums can overflow 32 bits
        uint a = 1, b = 0;
        while (data.Length > 0)
        {
            int n = Math.Min(Run, data.Length);
            foreach (byte v in data[..n])
            {
                a += v;
                b += a;
            }
            a %= Mod;
            b %= Mod;
            data = data[n..];
        }
        return (b << 16) | a;
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
