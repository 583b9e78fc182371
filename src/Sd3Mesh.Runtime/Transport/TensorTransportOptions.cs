namespace Sd3Mesh.Runtime.Transport;

/// <summary>How a silo serves and fetches tensors over the gRPC tensor transport (see <see cref="TensorTransportHosting"/>).</summary>
public sealed record TensorTransportOptions
{
    public const int MinChunkBytes = 1024 * 1024;
    public const int MaxChunkBytes = 4 * 1024 * 1024;

    /// <summary>Bytes per chunk this silo sends (1-4 MiB): large enough that per-message costs vanish, small enough to keep memory per stream bounded.</summary>
    public int ChunkBytes { get; init; } = MinChunkBytes;

    /// <summary>
    /// The largest tensor this silo fetches from another silo; a reference to a larger one fails before any byte moves.
    /// The default is what one tensor can hold (its bytes are one .NET array, just under 2 GiB).
    /// </summary>
    public long MaxTensorBytes { get; init; } = Array.MaxLength;

    /// <summary>Each fetch's deadline: the owner stops streaming and the reader gets DEADLINE_EXCEEDED after this long.</summary>
    public TimeSpan FetchTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>How long a published tensor waits for its reader before the store drops it.</summary>
    public TimeSpan TensorLifetime { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>The clock of those lifetimes.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Throws ArgumentException naming the first setting out of range.</summary>
    public TensorTransportOptions Validate()
    {
        if (ChunkBytes is < MinChunkBytes or > MaxChunkBytes)
            throw new ArgumentException($"ChunkBytes {ChunkBytes} is outside {MinChunkBytes}..{MaxChunkBytes} (1-4 MiB)");
        if (MaxTensorBytes < 0 || MaxTensorBytes > Array.MaxLength)
            throw new ArgumentException($"MaxTensorBytes {MaxTensorBytes} is outside 0..{Array.MaxLength} (one tensor is one .NET array)");
        if (FetchTimeout <= TimeSpan.Zero)
            throw new ArgumentException($"FetchTimeout {FetchTimeout} must be positive");
        if (TensorLifetime <= TimeSpan.Zero)
            throw new ArgumentException($"TensorLifetime {TensorLifetime} must be positive");
        return this;
    }
}
