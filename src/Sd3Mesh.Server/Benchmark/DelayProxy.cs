using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Sd3Mesh.Server.Benchmark;

/// <summary>
/// A loopback TCP proxy that delivers every byte at least a fixed delay after it arrived, in both directions
/// (timers round up to whole milliseconds):
/// a link with a round-trip time and unlimited bandwidth, so that benchmarks show what HTTP/2 flow-control
/// windows cost between hosts (a stream moves at most one window per round trip) without touching the
/// machine's network settings.
/// </summary>
public sealed class DelayProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly TimeSpan _oneWay;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _pumps = [];
    private readonly List<Socket> _sockets = [];
    private readonly Task _accepting;

    public DelayProxy(IPEndPoint target, TimeSpan roundTrip)
    {
        _target = target;
        _oneWay = roundTrip / 2;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
                var server = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                client.NoDelay = true;
                await server.ConnectAsync(_target, _stop.Token).ConfigureAwait(false);
                lock (_pumps)
                {
                    _sockets.Add(client);
                    _sockets.Add(server);
                    _pumps.Add(PumpAsync(client, server));
                    _pumps.Add(PumpAsync(server, client));
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { }
    }

    private async Task PumpAsync(Socket from, Socket to)
    {
        var queue = Channel.CreateUnbounded<(long Due, byte[] Data, int Length)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var delay = (long)(_oneWay.TotalSeconds * Stopwatch.Frequency);
        var writer = Task.Run(async () =>
        {
            try
            {
                await foreach (var (due, data, length) in queue.Reader.ReadAllAsync(_stop.Token).ConfigureAwait(false))
                {
                    // Task.Delay truncates to whole milliseconds: round up so that no byte arrives early.
                    var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                    if (wait > TimeSpan.Zero) await Task.Delay((int)Math.Ceiling(wait.TotalMilliseconds), _stop.Token).ConfigureAwait(false);
                    for (int sent = 0; sent < length;)
                        sent += await to.SendAsync(data.AsMemory(sent, length - sent), _stop.Token).ConfigureAwait(false);
                }
                to.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { }
        });
        try
        {
            while (true)
            {
                var buffer = new byte[256 * 1024];
                int n = await from.ReceiveAsync(buffer, _stop.Token).ConfigureAwait(false);
                if (n == 0) break;
                queue.Writer.TryWrite((Stopwatch.GetTimestamp() + delay, buffer, n));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { }
        queue.Writer.TryComplete();
        await writer.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        await _accepting.ConfigureAwait(false);
        Task[] pumps;
        lock (_pumps) pumps = [.. _pumps];
        await Task.WhenAll(pumps).ConfigureAwait(false);
        foreach (var socket in _sockets) socket.Dispose();
        _stop.Dispose();
    }
}
