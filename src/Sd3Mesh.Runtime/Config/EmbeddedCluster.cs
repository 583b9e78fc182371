using System.Net;
using System.Net.Sockets;
using Sd3Mesh.Onnx;

namespace Sd3Mesh.Runtime.Config;

/// <summary>
/// The one-silo cluster `sd3mesh serve` and a local `sd3mesh generate` run in-process: every submodule on one device
/// (`sd3mesh bench cluster` moves some to a second), localhost clustering on free loopback ports, the same grains and
/// coordinator as a multi-process cluster.
/// </summary>
public static class EmbeddedCluster
{
    /// <param name="grpcPort">the silo's gRPC endpoint (0: any free port; the embedded silo needs no transport peer)</param>
    /// <param name="elsewhere">submodules on a device other than <paramref name="device"/> (the silo owns those devices too)</param>
    public static ClusterConfig Config(ModelSpec model, Device device, int grpcPort = 0, string host = "127.0.0.1", int maxJobsInFlight = 1,
        IReadOnlyDictionary<PlacedSubmodule, Device>? elsewhere = null)
    {
        elsewhere ??= new Dictionary<PlacedSubmodule, Device>();
        var ports = FreeLoopbackPorts(2);
        var silo = new SiloSpec
        {
            Name = "local", Primary = true, Host = host, SiloPort = ports[0], GatewayPort = ports[1], GrpcPort = grpcPort,
            Devices = [.. elsewhere.Values.Prepend(device).Distinct()],
        };
        return new ClusterConfig
        {
            Name = "local-" + Environment.ProcessId,
            Model = model,
            Silos = [silo],
            Placement = PlacedSubmodules.All.ToDictionary(s => s, s => (IReadOnlyList<Device>)[elsewhere.GetValueOrDefault(s, device)]),
            Jobs = new JobLimits { MaxInFlight = maxJobsInFlight },
        };
    }

    /// <summary>Ports free now (bound together, then released, so no two are equal).</summary>
    public static int[] FreeLoopbackPorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToArray();
        foreach (var l in listeners) l.Start();
        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        foreach (var l in listeners) l.Stop();
        return ports;
    }
}
