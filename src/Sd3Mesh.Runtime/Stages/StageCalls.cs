using Orleans.Runtime;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Placement;

namespace Sd3Mesh.Runtime.Stages;

/// <summary>
/// Calls from the coordinator to its stage grains. A grain whose silo is gone (stopped, killed, or no silo owns its
/// device) fails the job with <see cref="SubmoduleUnavailableException"/> naming the submodule, the silo and the device,
/// rather than an Orleans exception about message routing.
/// </summary>
public sealed class StageCalls(ClusterConfig config)
{
    public async Task<T> RunAsync<T>(IAddressable grain, Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception e) when (e is SiloUnavailableException or DevicePlacementException or OrleansMessageRejectionException
                                      || e is TimeoutException && e.Message.Contains("silo", StringComparison.OrdinalIgnoreCase))
        {
            throw Unavailable(grain, e);
        }
    }

    public Task RunAsync(IAddressable grain, Func<Task> call) => RunAsync(grain, async () => { await call().ConfigureAwait(false); return 0; });

    private SubmoduleUnavailableException Unavailable(IAddressable grain, Exception e)
    {
        var key = DeviceKey.Parse(grain.GetGrainId().Key.ToString()!);
        string submodule = key.Name[(key.Name.LastIndexOf('/') + 1)..];
        string silo = config.Silos.FirstOrDefault(s => s.Devices.Contains(key.Device))?.Name ?? "(none)";
        return new SubmoduleUnavailableException(
            $"{submodule} is unavailable: its silo {silo} (device {key.Device}) does not answer ({e.GetType().Name}: {e.Message.Split('\n')[0]})");
    }
}

/// <summary>A stage's grain cannot be reached: its silo is down. The server answers UNAVAILABLE with this message.</summary>
[GenerateSerializer]
public sealed class SubmoduleUnavailableException : Exception
{
    public SubmoduleUnavailableException(string message) : base(message) { }
}
