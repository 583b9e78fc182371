using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Sd3Mesh.Runtime.Tensors;

namespace Sd3Mesh.Runtime.Transport;

/// <summary>
/// Puts the gRPC tensor transport on a silo's host (the ASP.NET Core host its Orleans silo runs in):
/// <code>
/// builder.Services.AddTensorTransport(spec.Name, spec.GrpcUri);   // grains get ITensorExchange injected
/// app.MapTensorTransport();                                      // on the silo's HTTP/2 (gRPC) endpoint
/// </code>
/// The endpoint is where other silos reach this one (the cluster config's grpc_port), written into every
/// <see cref="TensorRef"/> this silo hands out. Kestrel's HTTP/2 settings are the host's: large windows (as
/// Sd3Mesh.Server's Http2Settings.LargeMessages) keep a single tensor stream from stalling on round trips.
/// </summary>
public static class TensorTransportHosting
{
    public static IServiceCollection AddTensorTransport(this IServiceCollection services, string silo, Uri endpoint,
        TensorTransportOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(silo);
        if (!endpoint.IsAbsoluteUri || endpoint.Scheme is not ("http" or "https"))
            throw new ArgumentException($"silo {silo}'s transport endpoint '{endpoint}' is not an http(s) address", nameof(endpoint));
        options = (options ?? new TensorTransportOptions()).Validate();
        services.AddGrpc();
        services.AddSingleton(options);
        // Replace the store and the one-silo LocalTensorExchange if the host registered them already (so call this after).
        services.Replace(ServiceDescriptor.Singleton(new TensorStore(silo, endpoint.ToString(), options.Time) { Lifetime = options.TensorLifetime }));
        services.AddSingleton<TransportChannels>();
        services.AddSingleton<GrpcTensorExchange>();
        services.Replace(ServiceDescriptor.Singleton<ITensorExchange>(provider => provider.GetRequiredService<GrpcTensorExchange>()));
        services.AddSingleton<TensorTransportService>();
        return services;
    }

    public static GrpcServiceEndpointConventionBuilder MapTensorTransport(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapGrpcService<TensorTransportService>();
}
