using System.Net;
using System.Net.Sockets;
using Sd3Mesh.Runtime.Config;

namespace Sd3Mesh.Cli.Cluster;

/// <summary>
/// The ports `cluster up` is about to give its silos, tried before any silo starts: a port still held by another
/// cluster would otherwise answer for the new silo, or fail it half-way through its start.
/// </summary>
internal static class LocalPorts
{
    /// <summary>One line per port that cannot be bound on its silo's host, naming the field.</summary>
    public static IReadOnlyList<string> Problems(ClusterConfig config)
    {
        var problems = new List<string>();
        foreach (var silo in config.Silos)
        {
            var address = IPAddress.Parse(silo.Host);
            (string Field, int Port)[] ports = [("silo_port", silo.SiloPort), ("gateway_port", silo.GatewayPort), ("grpc_port", silo.GrpcPort),
                ("web_port", silo.WebPort)];
            foreach (var (field, port) in ports.Where(p => p.Port > 0))
            {
                try
                {
                    var listener = new TcpListener(address, port);
                    listener.Start();
                    listener.Stop();
                }
                catch (SocketException e)
                {
                    problems.Add($"silos.{silo.Name}.{field}: {silo.Host}:{port} " + (e.SocketErrorCode == SocketError.AddressAlreadyInUse
                        ? "is in use (another cluster, or a silo still running?)"
                        : $"cannot be bound on this machine ({e.Message}); cluster up starts every silo here"));
                }
            }
        }
        return problems;
    }
}
