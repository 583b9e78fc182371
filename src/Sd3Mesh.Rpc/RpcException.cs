using Google.Protobuf;

namespace Sd3Mesh.Rpc;

/// <summary>
/// A call that ended with a non-OK status. Thrown by handlers to choose the status a client sees, and
/// by the client for every failed call. <see cref="Trailers"/> travel with the status (server to client).
/// </summary>
public class RpcException : Exception
{
    public RpcException(Status status, Metadata? trailers = null, Exception? inner = null)
        : base(status.ToString(), inner)
    {
        Status = status;
        Trailers = trailers ?? new Metadata();
    }

    public RpcException(StatusCode code, string detail, Metadata? trailers = null)
        : this(new Status(code, detail), trailers) { }

    public Status Status { get; }
    public StatusCode StatusCode => Status.Code;
    public Metadata Trailers { get; }

    /// <summary>
    /// An exception whose trailers carry <paramref name="richStatus"/> as grpc-status-details-bin
    /// (google.rpc.Status, the rich error model that grpcio's rpc_status module reads).
    /// </summary>
    public static RpcException WithDetails(Google.Rpc.Status richStatus, Metadata? trailers = null)
    {
        trailers ??= new Metadata();
        trailers.Add(GrpcProtocol.StatusDetailsHeader, richStatus.ToByteArray());
        return new RpcException(new Status((StatusCode)richStatus.Code, richStatus.Message), trailers);
    }

    /// <summary>The google.rpc.Status from grpc-status-details-bin, if the peer sent one.</summary>
    public Google.Rpc.Status? GetRichStatus()
    {
        var bytes = Trailers.GetValueBytes(GrpcProtocol.StatusDetailsHeader);
        return bytes is null ? null : Google.Rpc.Status.Parser.ParseFrom(bytes);
    }
}
