using Grpc.Core;
using Sd3Mesh.Protos.V1;
using ClusterApi = Sd3Mesh.Protos.V1.Cluster;

namespace Sd3Mesh.Server.Cluster;

/// <summary>sd3mesh.v1.Cluster: the silos, devices and grains of the cluster this silo belongs to.</summary>
public sealed class ClusterService(IClusterView view) : ClusterApi.ClusterBase
{
    public override async Task<ListSilosResponse> ListSilos(ListSilosRequest request, ServerCallContext context)
    {
        var response = new ListSilosResponse();
        response.Silos.AddRange(await view.SilosAsync(context.CancellationToken).ConfigureAwait(false));
        return response;
    }

    public override async Task<ListDevicesResponse> ListDevices(ListDevicesRequest request, ServerCallContext context)
    {
        var response = new ListDevicesResponse();
        response.Devices.AddRange((await view.DevicesAsync(context.CancellationToken).ConfigureAwait(false))
            .Where(d => request.SiloId.Length == 0 || d.SiloId == request.SiloId));
        return response;
    }

    public override async Task<ListGrainsResponse> ListGrains(ListGrainsRequest request, ServerCallContext context)
    {
        var response = new ListGrainsResponse();
        response.Grains.AddRange((await view.GrainsAsync(context.CancellationToken).ConfigureAwait(false))
            .Where(g => request.SiloId.Length == 0 || g.SiloId == request.SiloId));
        return response;
    }
}
