using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Devices;
using Sd3Mesh.Runtime.Catalog;
using Sd3Mesh.Runtime.Metrics;
using Sd3Mesh.Runtime.Placement;
using Sd3Mesh.Runtime.Tensors;

namespace Sd3Mesh.Runtime.Grains;

/// <summary>
/// What every SD3 submodule grain shares: its key (model/submodule@device), its place in the cluster's placement
/// plan, its sessions (loaded on the first call or at a warm start, released under budget pressure or when the grain
/// deactivates after the idle timeout), and its call statistics (its report, also kept in the silo's
/// <see cref="GrainReports"/>, and the silo's metrics).
/// </summary>
public abstract class SubmoduleGrain<T>(ModelCatalog catalog, DeviceMemories memories, ITensorExchange tensors, RuntimeMetrics metrics,
    GrainReports reports) : Grain, ISubmoduleGrain
    where T : class, IDisposable
{
    private System.Diagnostics.TagList _tags;

    protected ModelCatalog Catalog { get; } = catalog;
    protected ITensorExchange Tensors { get; } = tensors;
    protected PlacedGrain Placed { get; private set; } = null!;
    /// <summary>Where its sessions run: its key's device, or the submodule's fallback when that device's silo is gone.</summary>
    protected Onnx.Device Device { get; private set; }

    /// <summary>The device of this host its sessions are created on: <see cref="Device"/> as the silo's local_devices map it.</summary>
    protected Onnx.Device LocalDevice => _silo.Local(Device);
    protected GrainSessions<T> Sessions { get; private set; } = null!;
    private CallStats Stats { get; } = new();
    private SiloSpec _silo = null!;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var key = DeviceKey.Parse(this.GetPrimaryKeyString());
        Placed = Catalog.Plan.Grains.FirstOrDefault(g => g.Key == key)
            ?? throw new InvalidOperationException($"{key} is not a grain of the cluster config '{Catalog.Config.Name}' (its grains: " +
                $"{string.Join(", ", Catalog.Plan.Grains.Select(g => g.Key))})");
        _silo = ServiceProvider.GetRequiredService<SiloSpec>();
        Device = Catalog.Config.DeviceOn(_silo, key);
        Sessions = new GrainSessions<T>(key.ToString(), Placed.WeightBytes, memories.For(Device), LoadNamedAsync);
        _tags = metrics.GrainTags(Placed.Submodule.Name(), Device);
        reports.Activated(key.ToString(), Snapshot);
        return Task.CompletedTask;
    }

    /// <summary>A failed load names this grain (ONNX Runtime's error names only a file).</summary>
    private async Task<T> LoadNamedAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await LoadAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new SubmoduleLoadException(Placed with { Silo = _silo.Name }, e); // the silo it runs on (its fallback's, after a failover)
        }
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        Sessions.Unload();
        reports.Deactivated(Placed.Key.ToString(), Snapshot());
        return Task.CompletedTask;
    }

    /// <summary>Creates the grain's sessions on its device (called under its device's memory budget).</summary>
    protected abstract Task<T> LoadAsync(CancellationToken cancellationToken);

    /// <summary>Runs <paramref name="body"/> on the loaded sessions, timed into the grain's statistics.</summary>
    protected async Task<TResult> CallAsync<TResult>(Func<T, Task<TResult>> body, CancellationToken cancellationToken)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            using var lease = await Sessions.AcquireAsync(cancellationToken);
            var result = await body(lease.Sessions);
            RecordCall(Stopwatch.GetElapsedTime(start));
            return result;
        }
        catch (Exception e)
        {
            RecordCall(Stopwatch.GetElapsedTime(start), e);
            throw;
        }
    }

    /// <summary>A call's time (and error) into the grain's report and the silo's metrics.</summary>
    protected void RecordCall(TimeSpan elapsed, Exception? error = null)
    {
        Stats.Record(elapsed, error);
        metrics.GrainCall(_tags, elapsed, failed: error is not null and not OperationCanceledException);
    }

    public async Task Warm(CancellationToken cancellationToken = default)
    {
        using var _ = await Sessions.AcquireAsync(cancellationToken);
    }

    public Task<GrainReport> Report() => Task.FromResult(Snapshot());

    /// <summary>The report now (thread-safe: the silo's <see cref="GrainReports"/> reads it from outside the grain).</summary>
    private GrainReport Snapshot()
    {
        var (calls, mean, p95) = Stats.Snapshot();
        return new GrainReport(Placed.Key.ToString(), Placed.Submodule.Name(), Device.ToString(), _silo.Name,
            Sessions.State, Placed.WeightBytes, calls, mean, p95, Stats.LastError, Stats.LastCall, Sessions.LoadTime.TotalMilliseconds, Sessions.Loads);
    }
}

/// <summary>One ONNX Runtime session and the stage that runs it, as a grain's sessions.</summary>
public sealed class LoadedStage<TStage>(Sd3Mesh.Pipeline.Onnx.OnnxSubmodule submodule, TStage stage) : IDisposable
{
    public Sd3Mesh.Pipeline.Onnx.OnnxSubmodule Submodule { get; } = submodule;
    public TStage Stage { get; } = stage;
    public void Dispose() => Submodule.Dispose();

    /// <summary>Creates the session now, on its device's queue (so load time is paid and measured at load, not at the first call).</summary>
    public static async Task<LoadedStage<TStage>> LoadAsync(Sd3Mesh.Pipeline.Onnx.OnnxSubmodule submodule, Func<Sd3Mesh.Pipeline.Onnx.OnnxSubmodule, TStage> stage,
        CancellationToken cancellationToken)
    {
        try
        {
            await submodule.Queue.RunAsync(_ => submodule.Session, cancellationToken);
            return new LoadedStage<TStage>(submodule, stage(submodule));
        }
        catch
        {
            submodule.Dispose();
            throw;
        }
    }
}
