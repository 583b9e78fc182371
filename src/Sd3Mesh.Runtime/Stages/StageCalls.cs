using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Runtime;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Placement;
using Sd3Mesh.Runtime.Tracing;

namespace Sd3Mesh.Runtime.Stages;

/// <summary>
/// Calls from the coordinator to its stage grains. Each call is a span of the job's timeline (on the grain's lane,
/// "text_encoder_3@cuda:1", from the coordinator's view: the call, its retries and pulling its result). A grain whose silo is gone (stopped, killed, or no silo owns its
/// device) fails the job with <see cref="SubmoduleUnavailableException"/> naming the submodule, the silo and the device,
/// rather than an Orleans exception about message routing. A stateless call (<c>retry</c>: an encoder, the VAE) to a
/// submodule that has a fallback in the config is sent again until Orleans has declared the silo dead and the placement
/// director has activated the grain on the fallback device (<see cref="FailoverWindow"/> at most): the job goes on.
/// </summary>
public sealed class StageCalls(ClusterConfig config, ILogger? logger = null, JobTraces? traces = null)
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private readonly ConcurrentDictionary<GrainId, (string Lane, string Silo)> _lanes = new();

    /// <summary>
    /// How long a call keeps being sent while its grain's silo does not answer: membership declares a killed silo dead
    /// within seconds (SiloConfiguration's probe settings), after which the grain is placed on its fallback.
    /// </summary>
    public TimeSpan FailoverWindow { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <param name="name">what the span is called on the timeline ("encode", "step", "decode")</param>
    /// <param name="retry">the call may be sent again (it holds no state on the grain between calls)</param>
    /// <param name="step">a transformer step's position in the schedule (1-based), else 0</param>
    public async Task<T> RunAsync<T>(IAddressable grain, string name, Func<Task<T>> call, bool retry = false, CancellationToken cancellationToken = default,
        int step = 0)
    {
        var key = DeviceKey.Parse(grain.GetGrainId().Key.ToString()!);
        bool failover = retry && config.FallbackFor(key) is not null;
        var clock = Stopwatch.StartNew();
        Exception? failure = null;
        try
        {
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
        catch (Exception e)
        {
            failure = e;
            throw;
        }
        finally
        {
            if (traces is not null)
            {
                var (lane, silo) = Lane(grain);
                traces.Record(TraceSpan.EndingNow(lane, silo, SpanKind.Call, name, clock.Elapsed) with
                {
                    Step = step,
                    Error = failure is null or OperationCanceledException ? null : failure.GetType().Name,
                });
            }
        }
    }

    public Task RunAsync(IAddressable grain, string name, Func<Task> call, bool retry = false, CancellationToken cancellationToken = default,
        int step = 0) =>
        RunAsync(grain, name, async () => { await call().ConfigureAwait(false); return 0; }, retry, cancellationToken, step);

    /// <summary>The grain's lane on the timeline (submodule@device, as its key names it) and the silo that owns that device.</summary>
    public (string Lane, string Silo) Lane(IAddressable grain) => _lanes.GetOrAdd(grain.GetGrainId(), id =>
    {
        var key = DeviceKey.Parse(id.Key.ToString()!);
        return ($"{Submodule(key)}@{key.Device}", OwnerOf(key.Device));
    });

    private static string Submodule(DeviceKey key) => key.Name[(key.Name.LastIndexOf('/') + 1)..];

    private string OwnerOf(Onnx.Device device) => config.Silos.FirstOrDefault(s => s.Devices.Contains(device))?.Name ?? "(none)";

    /// <summary>The grain's silo is gone, or not yet known to be: Orleans could not deliver the call, or its output could not be fetched.</summary>
    private static bool IsUnreachable(Exception e) =>
        e is SiloUnavailableException or DevicePlacementException or OrleansMessageRejectionException
        || e is TimeoutException && e.Message.Contains("silo", StringComparison.OrdinalIgnoreCase)
        || e is RpcException { StatusCode: StatusCode.Unavailable };

    private SubmoduleUnavailableException Unavailable(DeviceKey key, Exception e, bool failedOver)
    {
        string submodule = Submodule(key);
        string silo = OwnerOf(key.Device);
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
