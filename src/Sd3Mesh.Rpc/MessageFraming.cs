using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Google.Protobuf;

namespace Sd3Mesh.Rpc;

/// <summary>
/// Length-prefixed messages: 1-byte compressed flag, 4-byte big-endian length, payload. Used by both
/// the server (Kestrel's pipes) and the client (pipes over HttpClient's streams).
/// </summary>
internal static class MessageFraming
{
    /// <summary>
    /// Writes one message; compresses it when <paramref name="encoding"/> names a compression. Asks
    /// <paramref name="output"/> for one span of exactly the frame's size.
    /// </summary>
    public static void Write(IBufferWriter<byte> output, IMessage message, string? encoding, int maxSize)
    {
        int size = message.CalculateSize();
        if (size > maxSize)
            throw new RpcException(StatusCode.ResourceExhausted,
                $"message of {size} bytes exceeds the send limit of {maxSize} bytes");

        if (encoding is null or MessageCompression.Identity)
        {
            var span = output.GetSpan(GrpcProtocol.MessagePrefixSize + size);
            span[0] = 0;
            BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)size);
            message.WriteTo(span.Slice(GrpcProtocol.MessagePrefixSize, size));
            output.Advance(GrpcProtocol.MessagePrefixSize + size);
        }
        else
        {
            var compressed = MessageCompression.Compress(encoding, message.ToByteArray());
            var span = output.GetSpan(GrpcProtocol.MessagePrefixSize + compressed.Length);
            span[0] = 1;
            BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)compressed.Length);
            compressed.CopyTo(span[GrpcProtocol.MessagePrefixSize..]);
            output.Advance(GrpcProtocol.MessagePrefixSize + compressed.Length);
        }
    }

    /// <summary>One message framed in an array of its own (a client's request messages), written in place.</summary>
    public static byte[] Frame(IMessage message, string? encoding, int maxSize)
    {
        var frame = new SingleFrame();
        Write(frame, message, encoding, maxSize);
        return frame.Bytes;
    }

    /// <summary>The array that <see cref="Write"/>'s one exact-size span request is answered with: no copy afterwards.</summary>
    private sealed class SingleFrame : IBufferWriter<byte>
    {
        public byte[] Bytes { get; private set; } = [];
        public Span<byte> GetSpan(int sizeHint = 0) => Bytes = new byte[sizeHint];
        public Memory<byte> GetMemory(int sizeHint = 0) => Bytes = new byte[sizeHint];
        public void Advance(int count)
        {
            if (count != Bytes.Length) throw new InvalidOperationException($"a frame of {Bytes.Length} bytes was advanced by {count}");
        }
    }
}

/// <summary>Reads length-prefixed messages from a pipe, checking the prefix and the size limit.</summary>
internal sealed class MessageReader(PipeReader reader, string? encoding, int maxSize)
{
    /// <summary>The next message, or null at the end of the stream. Malformed input: INTERNAL; too big: RESOURCE_EXHAUSTED.</summary>
    public async ValueTask<T?> ReadAsync<T>(MessageParser<T> parser, CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (result.IsCanceled) throw new OperationCanceledException(cancellationToken);

            if (buffer.Length >= GrpcProtocol.MessagePrefixSize)
            {
                var (flag, length) = ReadPrefix(buffer);
                if (flag > 1)
                    Fail(buffer, StatusCode.Internal, $"invalid compressed flag {flag} in a message prefix (must be 0 or 1)");
                if (flag == 1 && encoding is null or MessageCompression.Identity)
                    Fail(buffer, StatusCode.Internal, "a message is marked compressed but the stream has no grpc-encoding");
                if (length > maxSize)
                    Fail(buffer, StatusCode.ResourceExhausted,
                        $"received message of {length} bytes exceeds the limit of {maxSize} bytes");

                long frameLength = GrpcProtocol.MessagePrefixSize + (long)length;
                if (buffer.Length >= frameLength)
                {
                    var payload = buffer.Slice(GrpcProtocol.MessagePrefixSize, length);
                    try
                    {
                        return flag == 1
                            ? parser.ParseFrom(MessageCompression.Decompress(encoding!, payload, maxSize))
                            : parser.ParseFrom(payload);
                    }
                    catch (InvalidProtocolBufferException e)
                    {
                        throw new RpcException(StatusCode.Internal,
                            $"failed to parse a {typeof(T).Name} message of {length} bytes: {e.Message}");
                    }
                    finally
                    {
                        reader.AdvanceTo(buffer.GetPosition(frameLength));
                    }
                }
                if (result.IsCompleted)
                    Fail(buffer, StatusCode.Internal,
                        $"incomplete message: its prefix announces {length} bytes, the stream ended after {buffer.Length - GrpcProtocol.MessagePrefixSize}");
            }
            else if (result.IsCompleted)
            {
                if (buffer.Length == 0)
                {
                    reader.AdvanceTo(buffer.End);
                    return null;
                }
                Fail(buffer, StatusCode.Internal,
                    $"incomplete message prefix: the stream ended after {buffer.Length} of {GrpcProtocol.MessagePrefixSize} bytes");
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static (byte Flag, uint Length) ReadPrefix(in ReadOnlySequence<byte> buffer)
    {
        Span<byte> prefix = stackalloc byte[GrpcProtocol.MessagePrefixSize];
        buffer.Slice(0, GrpcProtocol.MessagePrefixSize).CopyTo(prefix);
        return (prefix[0], BinaryPrimitives.ReadUInt32BigEndian(prefix[1..]));
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void Fail(ReadOnlySequence<byte> buffer, StatusCode code, string detail)
    {
        reader.AdvanceTo(buffer.Start, buffer.End);
        throw new RpcException(code, detail);
    }
}
