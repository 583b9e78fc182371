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
    IGrainFactory grains, SiloInfo self) : IClusterView
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
            // This silo's address as bound (`serve --listen`, or port 0 picked by the system), the others' as configured.
            string address = spec.Name == self.Id && self.Address.Length > 0 ? self.Address : spec.GrpcUri.ToString().TrimEnd('/');
            var silo = new Silo { Id = spec.Name, Address = address, Primary = spec.Primary, Version = SiloInfo.Version };
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

    /// <summary>
    /// Every placed grain with its report, asked of the device report grains (one call per device, none to the grains
    /// themselves: polling them would keep idle grains from being collected). A grain reports from where it runs now: its
    /// config's silo and device, or its fallback's after that silo was declared dead. A grain never activated is
    /// inactive; one whose device's silo does not answer, and that runs nowhere else, is unavailable.
    /// </summary>
    public async Task<IReadOnlyList<Grain>> GrainsAsync(CancellationToken cancellationToken)
    {
        var byDevice = await Task.WhenAll(Config.AllDevices.Select(async device =>
        {
            try
            {
                var reports = await grains.GetGrain<IDeviceReportGrain>(IDeviceReportGrain.KeyOf(device)).Grains().WaitAsync(Timeout, cancellationToken);
                return (Device: device, Reports: reports, Error: (string?)null);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                return (Device: device, Reports: Array.Empty<GrainReport>(), Error: $"silo {Config.OwnerOf(device).Name} does not answer ({e.GetType().Name})");
            }
        }));
        // A grain deactivated on one silo and active on another (after a failover): its live report.
        var reports = byDevice.SelectMany(d => d.Reports).GroupBy(r => r.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.OrderBy(r => r.Deactivated).ThenByDescending(r => r.LastCall).First(), StringComparer.Ordinal);
        var unanswered = byDevice.Where(d => d.Error is not null).ToDictionary(d => d.Device, d => d.Error!);
        return [.. catalog.Plan.Grains.Select(g =>
        {
            var grain = new Grain
            {
                Key = g.Key.ToString(), Submodule = g.Submodule.Name(), SiloId = g.Silo, Device = g.Key.Device.ToString(), WeightBytes = (ulong)g.WeightBytes,
            };
            if (reports.TryGetValue(grain.Key, out var r))
            {
                grain.SiloId = r.Silo;
                grain.Device = r.Device;
                grain.State = r.Deactivated ? GrainState.Inactive : r.State switch
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
            else if (unanswered.TryGetValue(g.Key.Device, out var error))
            {
                grain.State = GrainState.Unavailable;
                grain.LastError = error;
            }
            else grain.State = GrainState.Inactive;
            return grain;
        })];
    }

    private static SiloStatus Status(OrleansStatus status) => status switch
    {
        OrleansStatus.Active => SiloStatus.Active,
        OrleansStatus.Joining or OrleansStatus.Created => SiloStatus.Joining,
        OrleansStatus.ShuttingDown or OrleansStatus.Stopping => SiloStatus.ShuttingDown,
        _ => SiloStatus.Dead,
    };
}
