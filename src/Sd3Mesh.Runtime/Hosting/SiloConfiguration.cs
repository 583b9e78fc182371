using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
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
    /// Endpoints and membership, then the grains (<see cref="AddSd3MeshGrains"/>). Membership is the config's
    /// <c>clustering</c>: localhost clustering by default (the primary silo keeps the membership table, so every silo
    /// must reach it and it must start first), or a Redis server every silo reaches (silos on several hosts, in any order).
    /// </summary>
    public static ISiloBuilder UseSd3MeshSilo(this ISiloBuilder silo, ClusterConfig config, SiloSpec spec, SiloRuntimeOptions? options = null)
    {
        var primary = config.Primary;
        if (config.Clustering.Redis is { } redis)
        {
            silo.UseRedisClustering(o => o.ConfigurationOptions = StackExchange.Redis.ConfigurationOptions.Parse(redis));
            silo.Configure<ClusterOptions>(o => { o.ServiceId = ServiceId; o.ClusterId = config.Name; });
            silo.Configure<EndpointOptions>(o =>
            {
                o.SiloPort = spec.SiloPort;
                o.GatewayPort = spec.GatewayPort;
            });
        }
        else
            silo.UseLocalhostClustering(spec.SiloPort, spec.GatewayPort,
                new IPEndPoint(IPAddress.Parse(primary.Host), primary.SiloPort), ServiceId, config.Name);
        // Other silos and clients reach it on its host's address; it listens there only, so silos of one machine may
        // share port numbers on different loopback addresses (127.0.0.2, 127.0.0.3) as on different hosts.
        silo.Configure<EndpointOptions>(o =>
        {
            o.AdvertisedIPAddress = IPAddress.Parse(spec.Host);
            o.SiloListeningEndpoint = new IPEndPoint(o.AdvertisedIPAddress, spec.SiloPort);
            o.GatewayListeningEndpoint = new IPEndPoint(o.AdvertisedIPAddress, spec.GatewayPort);
        });
        // A silo that stops answering is declared dead within seconds, not the production default of about a minute:
        // a job waiting on its grains then fails with UNAVAILABLE naming the silo instead of hanging.
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = TimeSpan.FromSeconds(2);
            o.NumMissedProbesLimit = 2;
            o.NumVotesForDeathDeclaration = 1;
            o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(10);
        });
        return silo.AddSd3MeshGrains(config, spec, options);
    }

    /// <summary>
    /// The SD3 grains on a silo of any cluster (its own or a test cluster's): the silo's devices as silo metadata, the
    /// device placement director, the runtime's services (<see cref="RuntimeServices.AddSd3MeshRuntime"/>), idle grains
    /// deactivated after the config's idle timeout (their sessions released), and grain calls allowed to take as long
    /// as an ONNX Runtime run on a CPU can.
    /// </summary>
    public static ISiloBuilder AddSd3MeshGrains(this ISiloBuilder silo, ClusterConfig config, SiloSpec spec, SiloRuntimeOptions? options = null)
    {
        silo.Configure<SiloOptions>(o => o.SiloName = spec.Name);
        silo.UseSiloMetadata(SiloDevices.Metadata(spec.Name, spec.Devices, spec.GrpcUri));
        silo.AddPlacementDirector<DevicePlacementStrategy, DevicePlacementDirector>();
        silo.Configure<GrainCollectionOptions>(o =>
        {
            o.CollectionAge = config.Offload.IdleTimeout;
            o.CollectionQuantum = TimeSpan.FromTicks(Math.Min(o.CollectionQuantum.Ticks, config.Offload.IdleTimeout.Ticks / 2));
        });
        silo.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = CallTimeout);
        silo.Services.AddSingleton(config);
        silo.Services.AddSingleton(spec);
        silo.Services.AddSd3MeshRuntime(config, spec, options);
        return silo;
    }

    /// <summary>The longest a grain call may take (a medium model's first session on a CPU, a T5 run); the coordinator's Run has its own.</summary>
    public static readonly TimeSpan CallTimeout = TimeSpan.FromMinutes(10);

    /// <summary>A client of the cluster (the CLI's `cluster up` waiting for membership, tests) through every silo's gateway.</summary>
    public static IClientBuilder UseSd3MeshCluster(this IClientBuilder client, ClusterConfig config)
    {
        client.UseStaticClustering(config.Silos.Select(s => new IPEndPoint(IPAddress.Parse(s.Host), s.GatewayPort)).ToArray());
        client.Configure<ClusterOptions>(o => { o.ServiceId = ServiceId; o.ClusterId = config.Name; });
        client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = CallTimeout);
        return client;
    }
}
