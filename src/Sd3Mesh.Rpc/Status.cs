namespace Sd3Mesh.Rpc;

/// <summary>The outcome of a call: a code and a human-readable detail (the grpc-message trailer).</summary>
public readonly record struct Status(StatusCode Code, string Detail)
{
    public static readonly Status Ok = new(StatusCode.OK, "");

    public override string ToString() =>
        Detail.Length == 0 ? Code.Name() : $"{Code.Name()}: {Detail}";
}
