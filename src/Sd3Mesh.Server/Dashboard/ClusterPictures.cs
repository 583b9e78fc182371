using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Cluster;

namespace Sd3Mesh.Server.Dashboard;

/// <summary>
/// Draws the cluster for the page: silos from the Cluster API's view (membership, metadata), each device with its
/// memory, and in each device the grains placed there: the configured submodule grains (state, weights, calls,
/// latency from their silo's reports) marked with the silo Orleans has activated them on, and the coordinators of the
/// jobs running there. Asks nothing of the grains themselves (see <see cref="OrleansClusterView.GrainsAsync"/>).
/// </summary>
public sealed class ClusterPictures(IClusterView view, IGrainActivations activations, string clusterName)
{
    public async Task<ClusterPicture> BuildAsync(CancellationToken cancellationToken)
    {
        var silos = view.SilosAsync(cancellationToken);
        var devices = view.DevicesAsync(cancellationToken);
        var grains = view.GrainsAsync(cancellationToken);
        var activated = ActivationsAsync(cancellationToken);
        await Task.WhenAll(silos, devices, grains, activated).ConfigureAwait(false);

        var where = activated.Result.GroupBy(a => a.Key.ToString()).ToDictionary(g => g.Key, g => g.First().Silo, StringComparer.Ordinal);
        var submodules = grains.Result.Select(g => (Device: g.Device, View: new GrainView(g.Key, "submodule", g.Submodule, StateName(g.State),
            where.GetValueOrDefault(g.Key), (long)g.WeightBytes, (long)g.Calls, g.MeanLatencyMs, g.P95LatencyMs, g.LastError.Length > 0 ? g.LastError : null,
            g.LastUsed?.ToDateTime(), (int)g.Loads, g.LoadMs, JobId: null)));
        var coordinators = activated.Result.Where(a => a.Key.Name.StartsWith(Runtime.Placement.Fallbacks.JobPrefix, StringComparison.Ordinal)).Select(a => (Device: a.Key.Device.ToString(),
            View: new GrainView(a.Key.ToString(), "coordinator", "coordinator", "active", a.Silo, 0, 0, 0, 0, null, null, 0, 0, JobId: JobOf(a.Key.Name))));
        var views = submodules.Concat(coordinators.OrderBy(c => c.View.Key, StringComparer.Ordinal))
            .ToLookup(x => x.Device, x => x.View);

        var deviceViews = devices.Result.Select(d => new DeviceView(d.Name, d.Kind, d.SiloId, d.Description, (long)d.MemoryTotalBytes,
            (long)d.MemoryUsedBytes, (long)d.MemoryBudgetBytes, (long)d.WeightsLoadedBytes, (int)d.Evictions, [.. views[d.Name]])).ToList();
        return new ClusterPicture(clusterName, DateTime.UtcNow,
            [.. silos.Result.Select(s => new SiloView(s.Id, s.Address, SiloStatusName(s.Status), s.Primary, s.StartedAt?.ToDateTime(), s.Version, [.. s.Devices]))],
            deviceViews);
    }

    /// <summary>The job a coordinator's key names: job/ID-RUN (<see cref="Jobs.ClusterJobExecutor"/>).</summary>
    public static string JobOf(string coordinatorName)
    {
        string run = coordinatorName[Runtime.Placement.Fallbacks.JobPrefix.Length..];
        int dash = run.IndexOf('-');
        return dash > 0 ? run[..dash] : run;
    }

    /// <summary>The activations, or none when the management grain does not answer (the picture then lacks only them).</summary>
    private async Task<IReadOnlyList<GrainActivation>> ActivationsAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await activations.ListAsync(cancellationToken).WaitAsync(OrleansClusterView.Timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return [];
        }
    }

    public static string StateName(GrainState state) => state switch
    {
        GrainState.Active => "active",
        GrainState.Offloaded => "offloaded",
        GrainState.Loading => "loading",
        GrainState.Failed => "failed",
        GrainState.Unavailable => "unavailable",
        GrainState.Activating => "activating",
        GrainState.Deactivating => "deactivating",
        _ => "inactive",
    };

    public static string SiloStatusName(SiloStatus status) => status switch
    {
        SiloStatus.Active => "active",
        SiloStatus.Joining => "joining",
        SiloStatus.ShuttingDown => "shutting down",
        SiloStatus.Dead => "dead",
        _ => "unknown",
    };
}
