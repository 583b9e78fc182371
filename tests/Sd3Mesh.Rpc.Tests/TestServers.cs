using Sd3Mesh.Rpc.Tests.Echo;

namespace Sd3Mesh.Rpc.Tests;

/// <summary>Our server with the Echo service (plus health and reflection) on a free loopback port, and a channel to it.</summary>
public sealed class EchoServer : IAsyncDisposable
{
    private EchoServer(GrpcServer server, EchoService echo, GrpcChannel channel)
    {
        Server = server;
        Echo = echo;
        Channel = channel;
    }

    public GrpcServer Server { get; }
    public EchoService Echo { get; }
    public GrpcChannel Channel { get; }
    public Uri Address => Server.Address;

    public static async Task<EchoServer> StartAsync(GrpcServerOptions? options = null, GrpcChannelOptions? channelOptions = null)
    {
        var server = new GrpcServer(options ?? new GrpcServerOptions());
        var echo = new EchoService();
        server.MapService(EchoService.Descriptor, echo);
        server.MapService(Benchmark.RpcBenchmarkService.Descriptor, new Benchmark.RpcBenchmarkService());
        server.MapHealth();
        server.MapReflection();
        await server.StartAsync();
        return new EchoServer(server, echo, new GrpcChannel(server.Address, channelOptions));
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await Server.DisposeAsync();
    }
}

public static class EchoMethods
{
    public static readonly Method<EchoRequest, EchoReply> Say = Method<EchoRequest, EchoReply>.From(EchoService.Method("Say"));
    public static readonly Method<EchoRequest, EchoReply> Repeat = Method<EchoRequest, EchoReply>.From(EchoService.Method("Repeat"));
    public static readonly Method<EchoRequest, EchoReply> Collect = Method<EchoRequest, EchoReply>.From(EchoService.Method("Collect"));
    public static readonly Method<EchoRequest, EchoReply> Chat = Method<EchoRequest, EchoReply>.From(EchoService.Method("Chat"));
}
