using Google.Protobuf.WellKnownTypes;
using IClusterMembershipService = Orleans.Runtime.IClusterMembershipService;
using IGrainFactory = Orleans.IGrainFactory;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Runtime.Catalog;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Grains;
using Sd3Mesh.Runtime.Placement;
using OrleansStatus = Orleans.Runtime.SiloStatus;
using SiloStatus = Sd3Mesh.Protos.V1.SiloStatus;

namespace Sd3Mesh.Server.Cluster;

/// <summary>
/// The cluster as Orleans sees it, from any of its silos: membership (status), each silo's advertised devices and
/// name (silo metadata), each configured device's memory (its report grain, on the silo that owns it) and every
/// placed grain's report. A silo that does not answer within <see cref="Timeout"/> shows as such, not as an error.
/// </summary>
public sealed class OrleansClusterView(IClusterMembershipService membership, ISiloMetadataCache metadata, ModelCatalog catalog,
    IGrainFactory grains) : IClusterView
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    private ClusterConfig Config => catalog.Config;

    public Task<IReadOnlyList<Silo>> SilosAsync(CancellationToken cancellationToken)
    {
        var members = membership.CurrentSnapshot.Members.Values
            .Select(m => (Member: m, Meta: metadata.GetSiloMetadata(m.SiloAddress)))
            .Where(x => SiloDevices.Name(x.Meta) is not null)
            // A restarted silo leaves its dead predecessor in the table: show the newest entry per name.
            .GroupBy(x => SiloDevices.Name(x.Meta)!)
            .ToDictionary(g => g.Key, g => g.OrderByDescending(x => x.Member.SiloAddress.Generation).First());
        var silos = Config.Silos.Select(spec =>
        {
            var silo = new Silo { Id = spec.Name, Address = spec.GrpcUri.ToString().TrimEnd('/'), Primary = spec.Primary, Version = SiloInfo.Version };
            silo.Devices.AddRange(spec.Devices.Select(d => d.ToString()));
            if (members.TryGetValue(spec.Name, out var m))
            {
                silo.Status = Status(m.Member.Status);
                if (SiloDevices.Started(m.Meta) is { } started) silo.StartedAt = Timestamp.FromDateTime(started);
            }
            else silo.Status = SiloStatus.Dead;
            return silo;
        }).ToList();
        return Task.FromResult<IReadOnlyList<Silo>>(silos);
    }

    public async Task<IReadOnlyList<Device>> DevicesAsync(CancellationToken cancellationToken)
    {
        var reports = await Task.WhenAll(Config.Silos.SelectMany(s => s.Devices.Select(d => (Silo: s, Device: d))).Select(async x =>
        {
            var device = new Device { Name = x.Device.ToString(), Kind = x.Device.Kind.ToString().ToLowerInvariant(), SiloId = x.Silo.Name };
            try
            {
                var r = await grains.GetGrain<IDeviceReportGrain>(IDeviceReportGrain.KeyOf(x.Device)).Report().WaitAsync(Timeout, cancellationToken);
                device.Description = r.Description;
                device.MemoryTotalBytes = (ulong)r.TotalBytes;
                device.MemoryUsedBytes = (ulong)r.UsedBytes;
                device.MemoryBudgetBytes = (ulong)r.BudgetBytes;
                device.WeightsLoadedBytes = (ulong)r.LoadedWeightBytes;
                device.Evictions = (uint)r.Evictions;
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                device.Description = $"unavailable: silo {x.Silo.Name} does not answer ({e.GetType().Name})";
            }
            return device;
        }));
        return reports;
    }

    public async Task<IReadOnlyList<Grain>> GrainsAsync(CancellationToken cancellationToken)
    {
        return await Task.WhenAll(catalog.Plan.Grains.Select(async g =>
        {
            var grain = new Grain
            {
                Key = g.Key.ToString(), Submodule = g.Submodule.Name(), SiloId = g.Silo, Device = g.Key.Device.ToString(), WeightBytes = (ulong)g.WeightBytes,
            };
            try
            {
                var r = await grains.Submodule(g).Report().WaitAsync(Timeout, cancellationToken);
                // Where it runs now: the config's silo and device, or its fallback's after that silo was declared dead.
                grain.SiloId = r.Silo;
                grain.Device = r.Device;
                grain.State = r.State switch
                {
                    SessionState.Active => GrainState.Active,
                    SessionState.Loading => GrainState.Loading,
                    SessionState.Failed => GrainState.Failed,
                    _ => r.Loads == 0 ? GrainState.Inactive : GrainState.Offloaded,
                };
                grain.Calls = (ulong)r.Calls;
                grain.MeanLatencyMs = r.MeanMs;
                grain.P95LatencyMs = r.P95Ms;
                grain.LastError = r.LastError ?? "";
                grain.Loads = (uint)r.Loads;
                grain.LoadMs = r.LoadMs;
                if (r.LastCall is { } last) grain.LastUsed = Timestamp.FromDateTime(DateTime.SpecifyKind(last, DateTimeKind.Utc));
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                grain.State = GrainState.Unavailable;
                grain.LastError = $"silo {g.Silo} does not answer ({e.GetType().Name})";
            }
            return grain;
        }));
    }

    private static SiloStatus Status(OrleansStatus status) => status switch
    {
        OrleansStatus.Active => SiloStatus.Active,
        OrleansStatus.Joining or OrleansStatus.Created => SiloStatus.Joining,
        OrleansStatus.ShuttingDown or OrleansStatus.Stopping => SiloStatus.ShuttingDown,
        _ => SiloStatus.Dead,
    };
}
