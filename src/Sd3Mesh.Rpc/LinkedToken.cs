namespace Sd3Mesh.Rpc;

/// <summary>
/// Two tokens as one, allocating a linked source only when both can fire (per-message paths usually
/// get a caller token that cannot, or the call's own token twice).
/// </summary>
internal readonly struct LinkedToken : IDisposable
{
    private readonly CancellationTokenSource? _source;

    public LinkedToken(CancellationToken first, CancellationToken second)
    {
        if (!first.CanBeCanceled || first == second) Token = second;
        else if (!second.CanBeCanceled) Token = first;
        else
        {
            _source = CancellationTokenSource.CreateLinkedTokenSource(first, second);
            Token = _source.Token;
        }
    }

    public CancellationToken Token { get; }

    public void Dispose() => _source?.Dispose();
}
