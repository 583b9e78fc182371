using System.Buffers;
using Sd3Mesh.Protos.V1;

namespace Sd3Mesh.Runtime.Transport;

/// <summary>
/// One frame of a Fetch stream as the reader gets it: the header, or a chunk whose bytes lie in a buffer rented from
/// the shared ArrayPool (give it back with <see cref="Release"/> once appended), or the reason the frame is unusable.
/// </summary>
public sealed class FetchFrame
{
    public TensorHeader? Header { get; init; }
    public long Offset { get; init; }
    public int Length { get; init; }
    private byte[]? _rented;

    /// <summary>A frame that does not parse (kept here: grpc-dotnet would replace an exception with "failed to deserialize").</summary>
    public string? Malformed { get; init; }

    /// <summary>The chunk's bytes (empty for a header, and once released).</summary>
    public ReadOnlySpan<byte> Data => _rented is { } buffer ? buffer.AsSpan(0, Length) : default;

    internal FetchFrame(byte[]? rented) => _rented = rented;

    public void Release()
    {
        if (Interlocked.Exchange(ref _rented, null) is { } buffer) ArrayPool<byte>.Shared.Return(buffer);
    }
}
