using System.Buffers;
using System.IO.Compression;

namespace Sd3Mesh.Rpc;

/// <summary>
/// Per-message compression (grpc-encoding). Each message is compressed on its own; the compressed flag
/// says whether a given message is. Supported: identity, gzip, deflate (zlib format, as gRPC means it).
/// </summary>
public static class MessageCompression
{
    public const string Identity = "identity";
    public const string Gzip = "gzip";
    public const string Deflate = "deflate";

    /// <summary>The grpc-accept-encoding value we send.</summary>
    public const string AcceptEncoding = "identity,gzip,deflate";

    public static bool IsSupported(string encoding) => encoding is Identity or Gzip or Deflate;

    /// <summary>True when the peer's grpc-accept-encoding list names <paramref name="encoding"/>.</summary>
    public static bool Accepts(string? acceptEncodingHeader, string encoding)
    {
        if (acceptEncodingHeader is null) return false;
        foreach (var item in acceptEncodingHeader.Split(','))
            if (item.Trim().Equals(encoding, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    public static byte[] Compress(string encoding, ReadOnlySpan<byte> data)
    {
        var output = new MemoryStream(data.Length / 2 + 64);
        using (var stream = CreateStream(encoding, output, CompressionMode.Compress))
            stream.Write(data);
        return output.ToArray();
    }

    /// <summary>Decompresses one message; RESOURCE_EXHAUSTED beyond <paramref name="maxSize"/> bytes.</summary>
    public static byte[] Decompress(string encoding, ReadOnlySequence<byte> data, int maxSize)
    {
        using var input = new SequenceStream(data);
        using var stream = CreateStream(encoding, input, CompressionMode.Decompress);
        var output = new MemoryStream();
        var buffer = ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            int n;
            while ((n = stream.Read(buffer, 0, buffer.Length)) > 0)
            {
                if (output.Length + n > maxSize)
                    throw new RpcException(StatusCode.ResourceExhausted,
                        $"decompressed message exceeds the limit of {maxSize} bytes");
                output.Write(buffer, 0, n);
            }
        }
        catch (InvalidDataException e)
        {
            throw new RpcException(StatusCode.Internal, $"message is not valid {encoding} data: {e.Message}");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return output.ToArray();
    }

    private static Stream CreateStream(string encoding, Stream inner, CompressionMode mode) => encoding switch
    {
        Gzip => mode == CompressionMode.Compress
            ? new GZipStream(inner, CompressionLevel.Fastest, leaveOpen: true)
            : new GZipStream(inner, CompressionMode.Decompress, leaveOpen: true),
        Deflate => mode == CompressionMode.Compress
            ? new ZLibStream(inner, CompressionLevel.Fastest, leaveOpen: true)
            : new ZLibStream(inner, CompressionMode.Decompress, leaveOpen: true),
        _ => throw new RpcException(StatusCode.Unimplemented, $"compression '{encoding}' is not supported"),
    };

    /// <summary>A read-only stream over a byte sequence (no copy).</summary>
    private sealed class SequenceStream(ReadOnlySequence<byte> sequence) : Stream
    {
        private ReadOnlySequence<byte> _rest = sequence;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            int n = (int)Math.Min(buffer.Length, _rest.Length);
            _rest.Slice(0, n).CopyTo(buffer);
            _rest = _rest.Slice(n);
            return n;
        }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
