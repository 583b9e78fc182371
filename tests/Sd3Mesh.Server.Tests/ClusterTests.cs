using Grpc.Core;
using Grpc.Reflection.V1Alpha;
using Sd3Mesh.Protos.V1;
using Sd3Mesh.Server.Cluster;
using ClusterApi = Sd3Mesh.Protos.V1.Cluster;

namespace Sd3Mesh.Server.Tests;

public class ClusterTests
{
    [Fact]
    public async Task The_single_silo_reports_itself_its_cpu_device_and_no_grains_yet()
    {
        await using var silo = await TestSilo.StartAsync(new SiloHostOptions { SiloId = "silo-test", CpuBudgetBytes = 1UL << 30 });
        var cluster = new ClusterApi.ClusterClient(silo.Channel);
        var silos = await cluster.ListSilosAsync(new ListSilosRequest());
        var self = Assert.Single(silos.Silos);
        Assert.Equal(("silo-test", silo.Host.Address.ToString().TrimEnd('/'), SiloStatus.Active, true), (self.Id, self.Address, self.Status, self.Primary));
        Assert.Equal(["cpu"], self.Devices);
        Assert.InRange(self.StartedAt.ToDateTime(), DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow);

        var devices = await cluster.ListDevicesAsync(new ListDevicesRequest());
        var cpu = Assert.Single(devices.Devices);
        Assert.Equal(("cpu", "cpu", "silo-test"), (cpu.Name, cpu.Kind, cpu.SiloId));
        Assert.Equal((ulong)GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, cpu.MemoryTotalBytes);
        Assert.InRange(cpu.MemoryUsedBytes, 1UL << 20, cpu.MemoryTotalBytes);
        Assert.Equal(1UL << 30, cpu.MemoryBudgetBytes);
        Assert.Contains($"{Environment.ProcessorCount} logical cores", cpu.Description);

        var other = await cluster.ListDevicesAsync(new ListDevicesRequest { SiloId = "elsewhere" });
        Assert.Empty(other.Devices);
        Assert.Empty((await cluster.ListGrainsAsync(new ListGrainsRequest())).Grains);
    }

    [Fact]
    public void Device_names_write_the_first_cpu_as_cpu()
    {
        Assert.Equal("cpu", DeviceNames.Of(Onnx.Device.Parse("cpu:0")));
        Assert.Equal("cuda:1", DeviceNames.Of(Onnx.Device.Parse("cuda:1")));
    }

    [Fact]
    public async Task Reflection_serves_the_public_api()
    {
        await using var silo = await TestSilo.StartAsync();
        using var call = new ServerReflection.ServerReflectionClient(silo.Channel).ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = "sd3mesh.v1.GenerateRequest" });
        await call.RequestStream.CompleteAsync();
        var responses = new List<ServerReflectionResponse>();
        await foreach (var r in call.ResponseStream.ReadAllAsync()) responses.Add(r);
        Assert.Equal(["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
            "sd3mesh.v1.Cluster", "sd3mesh.v1.Generation"], responses[0].ListServicesResponse.Service.Select(s => s.Name).Order());
        var files = responses[1].FileDescriptorResponse.FileDescriptorProto;
        Assert.Contains(GenerationReflection.Descriptor.SerializedData, files);
        Assert.Contains(Google.Protobuf.WellKnownTypes.TimestampReflection.Descriptor.SerializedData, files);
    }
}
