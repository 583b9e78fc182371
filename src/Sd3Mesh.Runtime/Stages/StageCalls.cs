using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Runtime;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Placement;

namespace Sd3Mesh.Runtime.Stages;

/// <summary>
/// Calls from the coordinator to its stage grains. A grain whose silo is gone (stopped, killed, or no silo owns its
/// device) fails the job with <see cref="SubmoduleUnavailableException"/> naming the submodule, the silo and the device,
/// rather than an Orleans exception about message routing. A stateless call (<c>retry</c>: an encoder, the VAE) to a
/// submodule that has a fallback in the config is sent again until Orleans has declared the silo dead and the placement
/// director has activated the grain on the fallback device (<see cref="FailoverWindow"/> at most): the job goes on.
/// </summary>
public sealed class StageCalls(ClusterConfig config, ILogger? logger = null)
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;

    /// <summary>
    /// How long a call keeps being sent while its grain's silo does not answer: membership declares a killed silo dead
    /// within seconds (SiloConfiguration's probe settings), after which the grain is placed on its fallback.
    /// </summary>
    public TimeSpan FailoverWindow { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <param name="retry">the call may be sent again (it holds no state on the grain between calls)</param>
    public async Task<T> RunAsync<T>(IAddressable grain, Func<Task<T>> call, bool retry = false, CancellationToken cancellationToken = default)
    {
        var key = DeviceKey.Parse(grain.GetGrainId().Key.ToString()!);
        bool failover = retry && config.FallbackFor(key) is not null;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await call().ConfigureAwait(false);
            }
            catch (Exception e) when (IsUnreachable(e))
            {
                if (!failover || clock.Elapsed >= FailoverWindow || cancellationToken.IsCancellationRequested) throw Unavailable(key, e, failover);
                _logger.LogWarning("{Grain} does not answer ({Error}); sending the call again once it is placed on its fallback {Fallback}",
                    key.ToString(), e.GetType().Name, config.FallbackFor(key)!.Value.ToString());
                await Task.Delay(RetryDelay, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public Task RunAsync(IAddressable grain, Func<Task> call, bool retry = false, CancellationToken cancellationToken = default) =>
        RunAsync(grain, async () => { await call().ConfigureAwait(false); return 0; }, retry, cancellationToken);

    /// <summary>The grain's silo is gone, or not yet known to be: Orleans could not deliver the call, or its output could not be fetched.</summary>
    private static bool IsUnreachable(Exception e) =>
        e is SiloUnavailableException or DevicePlacementException or OrleansMessageRejectionException
        || e is TimeoutException && e.Message.Contains("silo", StringComparison.OrdinalIgnoreCase)
        || e is RpcException { StatusCode: StatusCode.Unavailable };

    private SubmoduleUnavailableException Unavailable(DeviceKey key, Exception e, bool failedOver)
    {
        string submodule = key.Name[(key.Name.LastIndexOf('/') + 1)..];
        string silo = config.Silos.FirstOrDefault(s => s.Devices.Contains(key.Device))?.Name ?? "(none)";
        string fallback = failedOver ? $"; its fallback {config.FallbackFor(key)} took no call within {FailoverWindow.TotalSeconds:F0} s" : "";
        return new SubmoduleUnavailableException(
            $"{submodule} is unavailable: its silo {silo} (device {key.Device}) does not answer{fallback} ({e.GetType().Name}: {e.Message.Split('\n')[0]})");
    }
}

/// <summary>A stage's grain cannot be reached: its silo is down. The server answers UNAVAILABLE with this message.</summary>
[GenerateSerializer]
public sealed class SubmoduleUnavailableException : Exception
{
    public SubmoduleUnavailableException(string message) : base(message) { }
}
