using Google.Protobuf.Reflection;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;
using Sd3Mesh.Rpc.Tests.Echo;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Sd3Mesh.Rpc.Tests;

/// <summary>grpc.health.v1.Health and grpc.reflection.v1alpha.ServerReflection through our client.</summary>
public class StandardServicesTests
{
    private static readonly ServiceDescriptor HealthDescriptor = HealthReflection.Descriptor.FindTypeByName<ServiceDescriptor>("Health");
    private static readonly Method<HealthCheckRequest, HealthCheckResponse> Check = Method<HealthCheckRequest, HealthCheckResponse>.From(HealthDescriptor.FindMethodByName("Check"));
    private static readonly Method<HealthCheckRequest, HealthCheckResponse> Watch = Method<HealthCheckRequest, HealthCheckResponse>.From(HealthDescriptor.FindMethodByName("Watch"));
    private static readonly Method<ServerReflectionRequest, ServerReflectionResponse> Reflect = Method<ServerReflectionRequest, ServerReflectionResponse>.From(
        ReflectionReflection.Descriptor.FindTypeByName<ServiceDescriptor>("ServerReflection").FindMethodByName("ServerReflectionInfo"));

    [Fact]
    public async Task Health_check_per_service_and_settable_by_the_host()
    {
        await using var echo = await EchoServer.StartAsync();
        var health = echo.Server.MapHealth();
        async Task<ServingStatus> StatusOf(string service) =>
            (await echo.Channel.UnaryAsync(Check, new HealthCheckRequest { Service = service })).Status;

        Assert.Equal(ServingStatus.Serving, await StatusOf(""));
        Assert.Equal(ServingStatus.Serving, await StatusOf("sd3mesh.rpc.test.Echo"));
        health.SetStatus("sd3mesh.rpc.test.Echo", ServingStatus.NotServing);
        Assert.Equal(ServingStatus.NotServing, await StatusOf("sd3mesh.rpc.test.Echo"));
        var error = await Assert.ThrowsAsync<RpcException>(() => StatusOf("no.Such"));
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
    }

    [Fact]
    public async Task Health_watch_sends_the_current_status_then_every_change_then_not_serving_at_shutdown()
    {
        await using var echo = await EchoServer.StartAsync();
        var health = echo.Server.MapHealth();
        using var known = echo.Channel.ServerStreaming(Watch, new HealthCheckRequest { Service = "sd3mesh.rpc.test.Echo" });
        using var unknown = echo.Channel.ServerStreaming(Watch, new HealthCheckRequest { Service = "later.Service" });
        await using var k = known.ResponseStream.GetAsyncEnumerator();
        await using var u = unknown.ResponseStream.GetAsyncEnumerator();

        Assert.True(await k.MoveNextAsync());
        Assert.Equal(ServingStatus.Serving, k.Current.Status);
        Assert.True(await u.MoveNextAsync());
        Assert.Equal(ServingStatus.ServiceUnknown, u.Current.Status);

        health.SetStatus("sd3mesh.rpc.test.Echo", ServingStatus.NotServing);
        Assert.True(await k.MoveNextAsync());
        Assert.Equal(ServingStatus.NotServing, k.Current.Status);

        health.SetStatus("later.Service", ServingStatus.Serving);
        Assert.True(await u.MoveNextAsync());
        Assert.Equal(ServingStatus.Serving, u.Current.Status);

        // Stopping turns everything NOT_SERVING and ends the watches (the drain does not wait for them).
        var stop = echo.Server.StopAsync(TimeSpan.FromSeconds(10));
        Assert.True(await u.MoveNextAsync());
        Assert.Equal(ServingStatus.NotServing, u.Current.Status);
        Assert.False(await u.MoveNextAsync());
        Assert.False(await k.MoveNextAsync());
        await stop.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Reflection_lists_services_and_serves_files_with_their_dependencies()
    {
        await using var echo = await EchoServer.StartAsync();
        using var call = echo.Channel.DuplexStreaming(Reflect);
        await using var responses = call.ResponseStream.GetAsyncEnumerator();
        async Task<ServerReflectionResponse> Ask(ServerReflectionRequest request)
        {
            await call.RequestStream.WriteAsync(request);
            Assert.True(await responses.MoveNextAsync());
            return responses.Current;
        }
        static List<string> FileNames(ServerReflectionResponse r) =>
            r.FileDescriptorResponse.FileDescriptorProto.Select(b => FileDescriptorProtoName(b.ToByteArray())).ToList();

        var list = await Ask(new ServerReflectionRequest { ListServices = "*" });
        Assert.Equal(["sd3mesh.rpc.test.Echo", "sd3mesh.rpc.v1.RpcBenchmark", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"],
            list.ListServicesResponse.Service.Select(s => s.Name));

        Assert.Equal(["echo.proto", "google/protobuf/timestamp.proto"], FileNames(await Ask(new ServerReflectionRequest { FileByFilename = "echo.proto" })));
        Assert.Equal(["echo.proto", "google/protobuf/timestamp.proto"], FileNames(await Ask(new ServerReflectionRequest { FileContainingSymbol = "sd3mesh.rpc.test.Echo.Say" })));
        Assert.Equal(["grpc/health/v1/health.proto"], FileNames(await Ask(new ServerReflectionRequest { FileContainingSymbol = "grpc.health.v1.HealthCheckResponse.ServingStatus" })));
        var served = await Ask(new ServerReflectionRequest { FileByFilename = "echo.proto" });
        Assert.Equal(EchoReflection.Descriptor.SerializedData, served.FileDescriptorResponse.FileDescriptorProto[0]);

        var missing = await Ask(new ServerReflectionRequest { FileContainingSymbol = "no.Such" });
        Assert.Equal((int)StatusCode.NotFound, missing.ErrorResponse.ErrorCode);
        Assert.Equal("symbol 'no.Such' not found", missing.ErrorResponse.ErrorMessage);
        await call.RequestStream.CompleteAsync();
        Assert.False(await responses.MoveNextAsync());
    }

    /// <summary>FileDescriptorProto.name (field 1) without a descriptor.proto dependency.</summary>
    private static string FileDescriptorProtoName(byte[] bytes)
    {
        var input = new Google.Protobuf.CodedInputStream(bytes);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (tag >> 3 == 1) return input.ReadString();
            input.SkipLastField();
        }
        return "";
    }
}
