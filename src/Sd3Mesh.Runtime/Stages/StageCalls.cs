using System.Collections.Concurrent;
using System.Diagnostics;
using Orleans.Runtime;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Placement;
using Sd3Mesh.Runtime.Tracing;

namespace Sd3Mesh.Runtime.Stages;

/// <summary>
/// Calls from the coordinator to its stage grains. Each call is a span of the job's timeline (on the grain's lane,
/// "text_encoder_3@cuda:1", from the coordinator's view: the call and pulling its result). A grain whose silo is gone
/// (stopped, killed, or no silo owns its device) fails the job with <see cref="SubmoduleUnavailableException"/> naming
/// the submodule, the silo and the device, rather than an Orleans exception about message routing.
/// </summary>
public sealed class StageCalls(ClusterConfig config, JobTraces? traces = null)
{
    private readonly ConcurrentDictionary<GrainId, (string Lane, string Silo)> _lanes = new();

    /// <param name="call">what the span is called on the timeline ("encode", "step", "decode")</param>
    /// <param name="step">a transformer step's position in the schedule (1-based), else 0</param>
    public async Task<T> RunAsync<T>(IAddressable grain, string call, Func<Task<T>> body, int step = 0)
    {
        long start = Stopwatch.GetTimestamp();
        Exception? failure = null;
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (Exception e) when (e is SiloUnavailableException or DevicePlacementException or OrleansMessageRejectionException
                                      || e is TimeoutException && e.Message.Contains("silo", StringComparison.OrdinalIgnoreCase))
        {
            failure = e;
            throw Unavailable(grain, e);
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
                traces.Record(TraceSpan.EndingNow(lane, silo, SpanKind.Call, call, Stopwatch.GetElapsedTime(start)) with
                {
                    Step = step,
                    Error = failure is null or OperationCanceledException ? null : failure.GetType().Name,
                });
            }
        }
    }

    public Task RunAsync(IAddressable grain, string call, Func<Task> body, int step = 0) =>
        RunAsync(grain, call, async () => { await body().ConfigureAwait(false); return 0; }, step);

    /// <summary>The grain's lane on the timeline (submodule@device) and the silo that owns its device.</summary>
    public (string Lane, string Silo) Lane(IAddressable grain) => _lanes.GetOrAdd(grain.GetGrainId(), id =>
    {
        var key = DeviceKey.Parse(id.Key.ToString()!);
        return ($"{Submodule(key)}@{key.Device}", OwnerOf(key.Device));
    });

    private static string Submodule(DeviceKey key) => key.Name[(key.Name.LastIndexOf('/') + 1)..];

    private string OwnerOf(Onnx.Device device) => config.Silos.FirstOrDefault(s => s.Devices.Contains(device))?.Name ?? "(none)";

    private SubmoduleUnavailableException Unavailable(IAddressable grain, Exception e)
    {
        var key = DeviceKey.Parse(grain.GetGrainId().Key.ToString()!);
        return new SubmoduleUnavailableException(
            $"{Submodule(key)} is unavailable: its silo {OwnerOf(key.Device)} (device {key.Device}) does not answer ({e.GetType().Name}: {e.Message.Split('\n')[0]})");
    }
}

/// <summary>A stage's grain cannot be reached: its silo is down. The server answers UNAVAILABLE with this message.</summary>
[GenerateSerializer]
public sealed class SubmoduleUnavailableException : Exception
{
    public SubmoduleUnavailableException(string message) : base(message) { }
}
