using Grpc.Core;
using Sd3Mesh.Protos.V1;
using ClusterApi = Sd3Mesh.Protos.V1.Cluster;

namespace Sd3Mesh.Server.Cluster;

/// <summary>sd3mesh.v1.Cluster for a single silo: itself, its devices, its grains.</summary>
public sealed class ClusterService(SiloInfo silo, IDeviceInventory devices, IGrainDirectory grains) : ClusterApi.ClusterBase
{
    public override Task<ListSilosResponse> ListSilos(ListSilosRequest request, ServerCallContext context)
    {
        var response = new ListSilosResponse();
        response.Silos.Add(silo.ToProto(devices.Devices(silo.Id).Select(d => d.Name)));
        return Task.FromResult(response);
    }

    public override Task<ListDevicesResponse> ListDevices(ListDevicesRequest request, ServerCallContext context)
    {
        var response = new ListDevicesResponse();
        if (Matches(request.SiloId)) response.Devices.AddRange(devices.Devices(silo.Id));
        return Task.FromResult(response);
    }

    public override Task<ListGrainsResponse> ListGrains(ListGrainsRequest request, ServerCallContext context)
    {
        var response = new ListGrainsResponse();
        if (Matches(request.SiloId)) response.Grains.AddRange(grains.Grains(silo.Id));
        return Task.FromResult(response);
    }

    private bool Matches(string siloId) => siloId.Length == 0 || siloId == silo.Id;
}
