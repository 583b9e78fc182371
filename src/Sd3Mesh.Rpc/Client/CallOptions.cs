namespace Sd3Mesh.Rpc;

/// <summary>Per-call settings of a client call.</summary>
public readonly record struct CallOptions
{
    /// <summary>Custom request metadata (reserved names are not sent).</summary>
    public Metadata? Headers { get; init; }

    /// <summary>UTC time after which the call fails with DEADLINE_EXCEEDED (sent to the server as grpc-timeout).</summary>
    public DateTime? Deadline { get; init; }

    /// <summary>Cancels the call: the stream is reset (RST_STREAM CANCEL) and the call fails with CANCELLED.</summary>
    public CancellationToken CancellationToken { get; init; }

    /// <summary>Compress request messages: "gzip" or "deflate". Null: uncompressed.</summary>
    public string? Compression { get; init; }

    public static CallOptions WithTimeout(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        new() { Deadline = DateTime.UtcNow + timeout, CancellationToken = cancellationToken };
}
