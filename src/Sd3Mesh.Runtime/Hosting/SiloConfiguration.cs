using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Placement;

namespace Sd3Mesh.Runtime.Hosting;

/// <summary>How one silo of a cluster config joins the Orleans cluster.</summary>
public static class SiloConfiguration
{
    public const string ServiceId = "sd3mesh";

    /// <summary>
    /// Endpoints and membership (localhost clustering: the primary silo keeps the membership table), the silo's
    /// devices as silo metadata, and the device placement director.
    /// </summary>
    public static ISiloBuilder UseSd3MeshSilo(this ISiloBuilder silo, ClusterConfig config, SiloSpec spec)
    {
        var primary = config.Primary;
        silo.UseLocalhostClustering(spec.SiloPort, spec.GatewayPort,
            new IPEndPoint(IPAddress.Parse(primary.Host), primary.SiloPort), ServiceId, config.Name);
        silo.Configure<EndpointOptions>(o => o.AdvertisedIPAddress = IPAddress.Parse(spec.Host));
        silo.Configure<SiloOptions>(o => o.SiloName = spec.Name);
        // A silo that stops answering is declared dead within seconds, not the production default of about a minute:
        // a job waiting on its grains then fails with UNAVAILABLE naming the silo instead of hanging.
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = TimeSpan.FromSeconds(2);
            o.NumMissedProbesLimit = 2;
            o.NumVotesForDeathDeclaration = 1;
            o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(10);
        });
        silo.UseSiloMetadata(SiloDevices.Metadata(spec.Name, spec.Devices, spec.GrpcUri));
        silo.AddPlacementDirector<DevicePlacementStrategy, DevicePlacementDirector>();
        silo.Services.AddSingleton(config);
        silo.Services.AddSingleton(spec);
        return silo;
    }

    /// <summary>A client of the cluster (the CLI's `cluster up` waiting for membership, tests) through every silo's gateway.</summary>
    public static IClientBuilder UseSd3MeshCluster(this IClientBuilder client, ClusterConfig config)
    {
        client.UseStaticClustering(config.Silos.Select(s => new IPEndPoint(IPAddress.Parse(s.Host), s.GatewayPort)).ToArray());
        client.Configure<ClusterOptions>(o => { o.ServiceId = ServiceId; o.ClusterId = config.Name; });
        return client;
    }
}
