using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;
using Sd3Mesh.Server.Grpc;
using Sd3Mesh.Server.Tests.Echo;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Sd3Mesh.Server.Tests.Grpc;

/// <summary>grpc.health.v1.Health and server reflection as every Sd3Mesh host serves them, through grpc-dotnet's client.</summary>
public class StandardServicesTests
{
    [Fact]
    public async Task Health_check_per_mapped_service_and_not_found_for_others()
    {
        await using var echo = await EchoServer.StartAsync();
        var health = new Health.HealthClient(echo.Channel);
        async Task<ServingStatus> StatusOf(string service) => (await health.CheckAsync(new HealthCheckRequest { Service = service })).Status;

        Assert.Equal(ServingStatus.Serving, await StatusOf(""));
        Assert.Equal(ServingStatus.Serving, await StatusOf("sd3mesh.rpc.test.Echo"));
        Assert.Equal(ServingStatus.Serving, await StatusOf("sd3mesh.rpc.v1.RpcBenchmark"));
        var error = await Assert.ThrowsAsync<RpcException>(() => StatusOf("no.Such"));
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
    }

    [Fact]
    public async Task Health_watch_sends_the_current_status_then_not_serving_when_the_host_stops()
    {
        var echo = await EchoServer.StartAsync();
        var health = new Health.HealthClient(echo.Channel);
        using var known = health.Watch(new HealthCheckRequest { Service = "sd3mesh.rpc.test.Echo" });
        using var unknown = health.Watch(new HealthCheckRequest { Service = "later.Service" });

        Assert.True(await known.ResponseStream.MoveNext());
        Assert.Equal(ServingStatus.Serving, known.ResponseStream.Current.Status);
        Assert.True(await unknown.ResponseStream.MoveNext());
        Assert.Equal(ServingStatus.ServiceUnknown, unknown.ResponseStream.Current.Status);

        // Stopping ends the watches with NOT_SERVING, so they do not hold up the drain.
        var stop = echo.App.StopAsync();
        Assert.True(await known.ResponseStream.MoveNext());
        Assert.Equal(ServingStatus.NotServing, known.ResponseStream.Current.Status);
        Assert.False(await known.ResponseStream.MoveNext());
        await stop.WaitAsync(TimeSpan.FromSeconds(5));
        await echo.DisposeAsync();
    }

    [Fact]
    public async Task Reflection_lists_services_and_serves_files_with_their_dependencies()
    {
        await using var echo = await EchoServer.StartAsync();
        using var call = new ServerReflection.ServerReflectionClient(echo.Channel).ServerReflectionInfo();
        async Task<ServerReflectionResponse> Ask(ServerReflectionRequest request)
        {
            await call.RequestStream.WriteAsync(request);
            Assert.True(await call.ResponseStream.MoveNext());
            return call.ResponseStream.Current;
        }
        static List<string> FileNames(ServerReflectionResponse r) =>
            r.FileDescriptorResponse.FileDescriptorProto.Select(b => Google.Protobuf.Reflection.FileDescriptorProto.Parser.ParseFrom(b).Name).ToList();

        var list = await Ask(new ServerReflectionRequest { ListServices = "*" });
        Assert.Equal(["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
            "sd3mesh.rpc.test.Echo", "sd3mesh.rpc.v1.RpcBenchmark"], list.ListServicesResponse.Service.Select(s => s.Name).Order());

        Assert.Equal(["echo.proto", "google/protobuf/timestamp.proto"], FileNames(await Ask(new ServerReflectionRequest { FileByFilename = "echo.proto" })).Order());
        Assert.Equal(["echo.proto", "google/protobuf/timestamp.proto"],
            FileNames(await Ask(new ServerReflectionRequest { FileContainingSymbol = "sd3mesh.rpc.test.Echo.Say" })).Order());
        var served = await Ask(new ServerReflectionRequest { FileByFilename = "echo.proto" });
        Assert.Contains(EchoReflection.Descriptor.SerializedData, served.FileDescriptorResponse.FileDescriptorProto);

        var missing = await Ask(new ServerReflectionRequest { FileContainingSymbol = "no.Such" });
        Assert.Equal((int)StatusCode.NotFound, missing.ErrorResponse.ErrorCode);
        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext());
    }

    [Fact]
    public async Task Pages_get_an_http1_endpoint_of_their_own_beside_the_grpc_endpoint()
    {
        await using var echo = await EchoServer.StartAsync(o => o.HttpListen = "127.0.0.1:0");
        var pages = echo.App.HttpAddress();
        Assert.NotNull(pages);
        Assert.NotEqual(echo.Port, pages.Port);
        using var http = new HttpClient();
        var response = await http.GetAsync(new Uri(pages, "/healthz"));
        Assert.Equal((System.Net.HttpStatusCode.OK, new Version(1, 1), "Healthy"), (response.StatusCode, response.Version, await response.Content.ReadAsStringAsync()));
        Assert.Equal("on", (await echo.Client.SayAsync(new EchoRequest { Text = "on" })).Text); // gRPC goes on on its own port
    }
}
