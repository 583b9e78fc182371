using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace Sd3Mesh.Server.Tests;

/// <summary>
/// A bare HTTP/2 client on a socket, for what a well-behaved client refuses to send (.NET's and grpcio's keep to the
/// server's header list limit): it sends one request's header block (HPACK literals, no Huffman) in HEADERS and
/// CONTINUATION frames, then reports how the server answered: the frame type that ended the exchange and its error code.
/// </summary>
public static class RawHttp2
{
    private const byte Headers = 0x1, RstStream = 0x3, Settings = 0x4, GoAway = 0x7, Continuation = 0x9;
    private const byte EndStream = 0x1, EndHeaders = 0x4;

    /// <summary>(frame, HTTP/2 error code) of the server's answer: "GOAWAY", "RST_STREAM" or "HEADERS :status N".</summary>
    public static async Task<(string Frame, uint ErrorCode)> SendHeadersAsync(Uri server, IEnumerable<(string Name, string Value)> headers)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(server.Host, server.Port);
        var stream = client.GetStream();
        stream.ReadTimeout = 10_000;
        await stream.WriteAsync(Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        await WriteFrameAsync(stream, Settings, 0, 0, ReadOnlyMemory<byte>.Empty);

        var block = new MemoryStream();
        foreach (var (name, value) in headers)
        {
            block.WriteByte(0x00); // literal header field without indexing, new name
            WriteString(block, name);
            WriteString(block, value);
        }
        var bytes = block.ToArray();
        // Read while writing: the server may answer and close the connection before the whole block is written (the
        // rest of the writes then fail with a broken pipe), and its answer must not be lost to that.
        var answer = ReadAnswerAsync(stream);
        const int MaxFrame = 16384; // the server's SETTINGS_MAX_FRAME_SIZE is at least this
        try
        {
            for (int offset = 0, index = 0; offset < bytes.Length && !answer.IsCompleted; offset += MaxFrame, index++)
            {
                int n = Math.Min(MaxFrame, bytes.Length - offset);
                bool last = offset + n >= bytes.Length;
                await WriteFrameAsync(stream, index == 0 ? Headers : Continuation, (byte)((last ? EndHeaders : 0) | (index == 0 ? EndStream : 0)), 1,
                    bytes.AsMemory(offset, n));
            }
        }
        catch (IOException) when (!answer.IsFaulted)
        {
            // The server closed the connection mid-block: its answer is in flight or already read.
        }
        return await answer.WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>The first frame that ends the exchange (SETTINGS are not acknowledged: no frame may come between HEADERS and CONTINUATION).</summary>
    private static async Task<(string Frame, uint ErrorCode)> ReadAnswerAsync(NetworkStream stream)
    {
        var header = new byte[9];
        while (true)
        {
            await stream.ReadExactlyAsync(header);
            int length = (header[0] << 16) | (header[1] << 8) | header[2];
            byte type = header[3];
            var payload = new byte[length];
            await stream.ReadExactlyAsync(payload);
            switch (type)
            {
                case GoAway:
                    return ("GOAWAY", BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(4)));
                case RstStream:
                    return ("RST_STREAM", BinaryPrimitives.ReadUInt32BigEndian(payload));
                case Headers:
                    return ("HEADERS", 0);
            }
        }
    }

    private static async Task WriteFrameAsync(NetworkStream stream, byte type, byte flags, int streamId, ReadOnlyMemory<byte> payload)
    {
        var header = new byte[9];
        header[0] = (byte)(payload.Length >> 16);
        header[1] = (byte)(payload.Length >> 8);
        header[2] = (byte)payload.Length;
        header[3] = type;
        header[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(5), streamId);
        await stream.WriteAsync(header);
        await stream.WriteAsync(payload);
    }

    /// <summary>An HPACK string literal without Huffman coding: its length as a 7-bit prefix integer, then its bytes.</summary>
    private static void WriteString(Stream block, string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        int length = bytes.Length;
        if (length < 127) block.WriteByte((byte)length);
        else
        {
            block.WriteByte(127);
            for (length -= 127; length >= 128; length >>= 7) block.WriteByte((byte)(length % 128 + 128));
            block.WriteByte((byte)length);
        }
        block.Write(bytes);
    }
}
