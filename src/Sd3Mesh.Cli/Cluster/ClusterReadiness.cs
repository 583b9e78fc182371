using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Server.Grpc;
using ClusterClient = Sd3Mesh.Protos.V1.Cluster.ClusterClient;

namespace Sd3Mesh.Cli.Cluster;

/// <summary>
/// Whether a starting cluster is up, asked over gRPC: a silo is up when its endpoint's health is SERVING (its host has
/// started: Orleans joined, Kestrel bound); the cluster is up when every silo is, and the primary's Cluster API
/// (ListSilos, from Orleans membership) reports every silo ACTIVE.
/// </summary>
internal sealed class ClusterReadiness(ClusterConfig config) : IDisposable
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(2);
    private readonly Dictionary<string, GrpcChannel> _channels = config.Silos.ToDictionary(s => s.Name, s => GrpcChannels.Create(s.GrpcUri));

    public async Task<bool> IsServingAsync(SiloSpec silo, CancellationToken cancellationToken)
    {
        try
        {
            var reply = await new Health.HealthClient(_channels[silo.Name])
                .CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow + CallTimeout, cancellationToken: cancellationToken);
            return reply.Status == HealthCheckResponse.Types.ServingStatus.Serving;
        }
        catch (RpcException) when (!cancellationToken.IsCancellationRequested)
        {
            return false; // not listening yet
        }
    }

    /// <summary>The silos the primary's membership view does not show as ACTIVE yet (all of them while it does not answer).</summary>
    public async Task<IReadOnlyList<string>> NotActiveAsync(CancellationToken cancellationToken)
    {
        try
        {
            var reply = await new ClusterClient(_channels[config.Primary.Name])
                .ListSilosAsync(new ListSilosRequest(), deadline: DateTime.UtcNow + CallTimeout, cancellationToken: cancellationToken);
            var active = reply.Silos.Where(s => s.Status == SiloStatus.Active).Select(s => s.Id).ToHashSet();
            return config.Silos.Select(s => s.Name).Where(n => !active.Contains(n)).ToList();
        }
        catch (RpcException) when (!cancellationToken.IsCancellationRequested)
        {
            return config.Silos.Select(s => s.Name).ToList();
        }
    }

    public void Dispose()
    {
        foreach (var channel in _channels.Values) channel.Dispose();
    }
}
