using System.Runtime.InteropServices;

namespace Sd3Mesh.Cli;

/// <summary>
/// SIGINT (Ctrl+C) and SIGTERM as a cancellation token for the running command (System.CommandLine 2.0 gives
/// its actions none by default): the first signal cancels the token and lets the command end on its own terms
/// (generate cancels its job and exits 130, serve stops gracefully and exits 0); a second one terminates the
/// process at once, except in serve, whose host keeps handling signals until its bounded drain is over.
/// </summary>
internal sealed class InterruptSignals : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly PosixSignalRegistration[] _registrations;

    public InterruptSignals()
    {
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal), PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal)];
    }

    public CancellationToken Token => _cancel.Token;

    private void OnSignal(PosixSignalContext context)
    {
        if (_cancel.IsCancellationRequested) return; // the second signal: the default action ends the process
        context.Cancel = true;
        _cancel.Cancel();
    }

    public void Dispose()
    {
        foreach (var registration in _registrations) registration.Dispose();
        _cancel.Dispose();
    }
}
